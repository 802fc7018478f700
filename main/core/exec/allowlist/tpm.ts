/**
 * tpm2-tools commands the TPM key store runs (Linux), by name, with their absolute paths. Only what
 * creating, reading, signing with and removing a persistent P-256 key needs; nothing that clears,
 * changes hierarchy auth, or exports. The exception is `tpm2_send`, which passes any command bytes
 * to the TPM: Ward's only caller builds a TPM2_Certify and nothing else.
 */
const tool = (name: string): readonly string[] => [`/usr/bin/${name}`, `/usr/local/bin/${name}`];

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
