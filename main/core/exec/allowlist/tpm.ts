/**
 * tpm2-tools commands the TPM key store runs (Linux), by name, with their absolute paths. Only what
 * creating, reading, signing with and removing a persistent P-256 key needs; nothing that clears,
 * changes hierarchy auth, or exports. The exception is `tpm2_send`, which passes any command bytes
 * to the TPM: Ward's only caller builds a TPM2_Certify, and the exec layer refuses anything else
 * ({@link tpmCommandGuards}).
 */
import { readFile } from 'node:fs/promises';

const tool = (name: string): readonly string[] => [`/usr/bin/${name}`, `/usr/local/bin/${name}`];

const TPM_ST_SESSIONS = 0x8002;
const TPM_CC_CERTIFY = 0x00000148;
const MAX_RAW_COMMAND_BYTES = 4096;

/**
 * The exec layer's own check on `tpm2_send`, run before the process starts: the only shape allowed
 * is `tpm2_send -o <response> <command file>` where the command file holds one TPM2_Certify
 * (TPM_ST_SESSIONS tag, its size field equal to the file's size, command code 0x148). Any other
 * raw command (TPM2_Clear, TPM2_HierarchyChangeAuth, ...) is refused whatever code asks for it.
 * Returns the reason for a refusal, or null.
 */
async function onlyCertify(args: readonly string[]): Promise<string | null> {
  if (args.length !== 3 || args[0] !== '-o') return 'tpm2_send is allowed only as `tpm2_send -o <response> <command file>`';
  let bytes: Buffer;
  try {
    bytes = await readFile(args[2] as string);
  } catch {
    return 'the TPM command file for tpm2_send cannot be read';
  }
  if (bytes.length < 10 || bytes.length > MAX_RAW_COMMAND_BYTES) return 'the TPM command for tpm2_send has an impossible size';
  if (bytes.readUInt16BE(0) !== TPM_ST_SESSIONS || bytes.readUInt32BE(2) !== bytes.length || bytes.readUInt32BE(6) !== TPM_CC_CERTIFY) {
    return 'tpm2_send may send only TPM2_Certify; this command is something else';
  }
  return null;
}

/** Commands whose arguments the exec layer checks before starting them (see {@link onlyCertify}). */
export const tpmCommandGuards: Readonly<Record<string, (args: readonly string[]) => Promise<string | null>>> = {
  tpm2_send: onlyCertify,
};

export const tpmCommands: Readonly<Record<string, readonly string[]>> = {
  tpm2_getcap: tool('tpm2_getcap'),
  tpm2_createprimary: tool('tpm2_createprimary'),
  tpm2_create: tool('tpm2_create'),
  tpm2_evictcontrol: tool('tpm2_evictcontrol'),
  tpm2_flushcontext: tool('tpm2_flushcontext'),
  tpm2_readpublic: tool('tpm2_readpublic'),
  tpm2_sign: tool('tpm2_sign'),
  tpm2_certify: tool('tpm2_certify'),
  tpm2_createek: tool('tpm2_createek'),
  tpm2_createak: tool('tpm2_createak'),
  // Raw command channel, used by main/core/identity/tpm-attestation.ts only, and only with the
  // TPM2_Certify command it builds (tpm2_certify cannot pass qualifying data).
  tpm2_send: tool('tpm2_send'),
  // Credential activation (EK certificate chain of the attestation key, tpm-attestation.ts).
  tpm2_nvread: tool('tpm2_nvread'),
  tpm2_startauthsession: tool('tpm2_startauthsession'),
  tpm2_policysecret: tool('tpm2_policysecret'),
  tpm2_activatecredential: tool('tpm2_activatecredential'),
};
