import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecError } from '../../../../main/core/exec/exec-error.js';
import { LiveHost } from '../../../../main/core/exec/live-host.js';
import { buildCertifyCommand } from '../../../../main/core/identity/tpm-attestation.js';

// `tpm2_send` points at /bin/echo here, so a command that gets past the guard really runs and
// prints its arguments; one that does not never starts a process.
const host = new LiveHost('linux', { allowList: { tpm2_send: ['/bin/echo', '/usr/bin/echo'] } });

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ward-tpm2-send-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function commandFile(bytes: Uint8Array): Promise<string> {
  const path = join(dir, `cmd-${n++}`);
  await writeFile(path, bytes);
  return path;
}

async function refusal(args: readonly string[]): Promise<string> {
  try {
    await host.run('tpm2_send', args);
  } catch (err) {
    expect(err).toBeInstanceOf(ExecError);
    expect((err as ExecError).code).toBe('not-allowed');
    return (err as ExecError).message;
  }
  throw new Error('tpm2_send ran');
}

/** A TPM command header with `code`, sized to its bytes. */
function rawCommand(code: number, body = Buffer.alloc(8)): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt16BE(0x8002, 0);
  head.writeUInt32BE(10 + body.length, 2);
  head.writeUInt32BE(code, 6);
  return Buffer.concat([head, body]);
}

describe('the exec layer lets tpm2_send carry only TPM2_Certify', () => {
  it('runs a TPM2_Certify built by the attestation code', async () => {
    const path = await commandFile(buildCertifyCommand(0x81020000, 0x81020100, new Uint8Array(32).fill(7)));
    const result = await host.run('tpm2_send', ['-o', join(dir, 'rsp'), path]);
    expect(result.stdout.trim()).toBe(`-o ${join(dir, 'rsp')} ${path}`);
  });

  it('refuses TPM2_Clear, HierarchyChangeAuth and EvictControl sent raw', async () => {
    for (const code of [0x126, 0x129, 0x120]) {
      expect(await refusal(['-o', join(dir, 'rsp'), await commandFile(rawCommand(code))])).toMatch(/only TPM2_Certify/);
    }
  });

  it('refuses a certify whose size field does not match the file, and other argument shapes', async () => {
    const certify = buildCertifyCommand(0x81020000, 0x81020100, new Uint8Array(32));
    const padded = await commandFile(Buffer.concat([certify, Buffer.from([0x00])]));
    expect(await refusal(['-o', join(dir, 'rsp'), padded])).toMatch(/only TPM2_Certify/);
    const path = await commandFile(certify);
    expect(await refusal([path])).toMatch(/allowed only as/);
    expect(await refusal(['-o', join(dir, 'rsp'), path, path])).toMatch(/allowed only as/);
    expect(await refusal(['-o', join(dir, 'rsp'), join(dir, 'absent')])).toMatch(/cannot be read/);
  });

  it('never starts a process for arbitrary bytes that are not a TPM2_Certify', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), async (bytes) => {
        const buf = Buffer.from(bytes);
        fc.pre(!(buf.length >= 10 && buf.readUInt16BE(0) === 0x8002 && buf.readUInt32BE(2) === buf.length && buf.readUInt32BE(6) === 0x148));
        await refusal(['-o', join(dir, 'rsp'), await commandFile(buf)]);
      }),
      { numRuns: 100 },
    );
  });
});
