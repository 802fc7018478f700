/**
 * Which links may leave the app for the system browser: http(s) only, and only to hosts IT or the
 * broker configured (plus Ward's own project pages). Everything else is dropped, never opened
 * inside Ward (Electron security checklist §14, §15).
 */
export const DEFAULT_EXTERNAL_HOSTS = ['github.com'] as const;

export function isAllowedExternalUrl(raw: string, allowedHosts: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return false;
  if (url.username || url.password) return false;
  const host = url.hostname.toLowerCase();
  return allowedHosts.some((allowed) => {
    const a = allowed.toLowerCase();
    return host === a || host.endsWith(`.${a}`);
  });
}
