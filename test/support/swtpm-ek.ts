import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Swtpm } from './swtpm.js';

const execFileAsync = promisify(execFile);

/** The CA that signed a manufactured swtpm's EK certificate. */
export interface EkCa {
  /** PEM of the root CA (`swtpm-localca-rootca`). */
  readonly rootPem: string;
  /** PEM of the issuing CA (`swtpm-localca`). */
  readonly intermediatePem: string;
}

/**
 * "Manufacture" a running swtpm like a TPM maker does: `swtpm_setup --create-ek-cert` with a
 * throw-away `swtpm_localca` CA (never the system one in /var/lib/swtpm-localca). The TPM gets
 * its RSA 2048 EK certificate in NV index 0x01c00002 (and an ECC P-384 one in 0x01c00016). Any
 * state the TPM had is replaced. The TPM is stopped meanwhile and started again.
 */
export async function manufactureWithEkCertificate(tpm: Swtpm): Promise<EkCa> {
  const ca = await mkdtemp(join(tmpdir(), 'ward-swtpm-ca-'));
  try {
    const localca = join(ca, 'localca.conf');
    const setup = join(ca, 'swtpm_setup.conf');
    await writeFile(
      localca,
      [`statedir = ${ca}`, `signingkey = ${join(ca, 'signkey.pem')}`, `issuercert = ${join(ca, 'issuercert.pem')}`, `certserial = ${join(ca, 'certserial')}`, ''].join('\n'),
    );
    await writeFile(setup, ['create_certs_tool = /usr/bin/swtpm_localca', `create_certs_tool_config = ${localca}`, 'create_certs_tool_options = /etc/swtpm-localca.options', 'active_pcr_banks = sha256', ''].join('\n'));
    await tpm.stop();
    await execFileAsync('/usr/bin/swtpm_setup', ['--tpm2', '--tpmstate', tpm.stateDir, '--create-ek-cert', '--config', setup, '--overwrite'], { timeout: 60_000 });
    await tpm.start();
    return {
      rootPem: await readFile(join(ca, 'swtpm-localca-rootca-cert.pem'), 'utf8'),
      intermediatePem: await readFile(join(ca, 'issuercert.pem'), 'utf8'),
    };
  } finally {
    await rm(ca, { recursive: true, force: true });
  }
}
