import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EkActivation } from '../../../../broker/server/ek-activation.js';
import { BrokerError } from '../../../../broker/server/errors.js';

// The reference broker's EK challenge bookkeeping on arbitrary input: every refusal is a
// BrokerError with a stable reason, never another kind of throw. The full exchange with a real
// TPM is in test/integration/identity/ek-credential.test.ts.

/** A self-signed CA certificate made by openssl (any CA will do: no EK chains to it). */
function selfSignedPem(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ward-ek-ca-'));
  try {
    execFileSync('/usr/bin/openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=test-maker-root', '-days', '2', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
    return readFileSync(join(dir, 'c.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function refusal(run: () => unknown): { code: string; reason: string | undefined } {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(BrokerError);
    return { code: (err as BrokerError).code, reason: (err as BrokerError).reason };
  }
  throw new Error('expected a refusal');
}

const b64url = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b).toString('base64url'));

describe('EkActivation', () => {
  const now = (): number => Date.now();

  it('without maker CAs the challenge endpoint is not there (404)', () => {
    expect(refusal(() => new EkActivation({ roots: [] }, now).challenge({ ekCertificate: 'AA', akPublic: 'AA' }))).toMatchObject({ code: 'not-found' });
  });

  it('refuses a configured CA that is not a certificate at start-up (config-invalid)', () => {
    fc.assert(
      fc.property(fc.string(), (pem) => {
        expect(refusal(() => EkActivation.fromPems([pem], now))).toMatchObject({ code: 'config-invalid' });
      }),
      { numRuns: 100 },
    );
  });

  it('refuses arbitrary EK certificates and attestation keys with an ek-cert or attestation reason', () => {
    const activation = EkActivation.fromPems([selfSignedPem()], now);
    expect(activation.isEnabled).toBe(true);
    fc.assert(
      fc.property(b64url, b64url, (ekCertificate, akPublic) => {
        const { code, reason } = refusal(() => activation.challenge({ ekCertificate, akPublic }));
        expect(code).toBe('enrollment-invalid');
        expect(reason).toMatch(/^(ek-cert-(malformed|untrusted|expired|unsupported)|attestation-(malformed|attributes))$/);
      }),
      { numRuns: 200 },
    );
  });

  it('redeems nothing it did not issue: arbitrary claims are malformed or unknown challenges', () => {
    const activation = new EkActivation({ roots: [] }, now);
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.record({ challenge_id: fc.uuid(), secret: fc.string() })), fc.string(), (claim, akName) => {
        const { reason } = refusal(() => activation.redeem(claim, akName));
        expect(['ek-activation-malformed', 'ek-challenge-unknown']).toContain(reason);
      }),
      { numRuns: 300 },
    );
  });
});
