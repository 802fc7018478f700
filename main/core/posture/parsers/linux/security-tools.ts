/**
 * `mdatp health`: `key : value` lines. Current releases print snake_case keys
 * (`real_time_protection_enabled`), releases before 101.x printed camelCase (`realTimeProtectionEnabled`);
 * both are normalised to snake_case. Values keep their JSON-ish quoting stripped.
 */
export function parseMdatpHealth(output: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of output.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9_]*)\s+:\s?(.*)$/.exec(line.trim());
    if (!m) continue;
    const key = (m[1] ?? '').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
    out.set(key, (m[2] ?? '').trim().replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

/**
 * The SecureBoot EFI variable (`/sys/firmware/efi/efivars/SecureBoot-8be4df61-…`): 4 bytes of
 * attributes then one data byte, 1 = enabled (UEFI spec §3.3 Globally Defined Variables).
 * `content` is the file decoded as Latin-1/UTF-8 text (both keep bytes below 0x80 as is).
 */
export function parseSecureBootVar(content: string): boolean | null {
  if (content.length !== 5) return null;
  const value = content.charCodeAt(4);
  if (value === 1) return true;
  if (value === 0) return false;
  return null;
}

/** `mokutil --sb-state`: enabled, disabled, or null when EFI variables are not available. */
export function parseMokutilSbState(output: string): { enabled: boolean | null; setupMode: boolean; efiAvailable: boolean } {
  const efiAvailable = !/EFI variables are not supported/i.test(output);
  const m = /^SecureBoot (enabled|disabled)/im.exec(output);
  return { enabled: m ? m[1]?.toLowerCase() === 'enabled' : null, setupMode: /Setup Mode/i.test(output), efiAvailable };
}
