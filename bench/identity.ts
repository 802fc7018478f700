import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LiveHost } from '../main/core/exec/live-host.js';
import { openSigner } from '../main/core/identity/device-signer.js';
import { DpopSigner } from '../main/core/identity/dpop.js';
import { KeychainKeyStore } from '../main/core/identity/keychain-key-store.js';
import type { DeviceKeyStore } from '../main/core/identity/key-store.js';
import { MemoryKeyStore } from '../main/core/identity/memory-key-store.js';
import { nativeTpmStatus } from '../main/core/identity/native-tpm.js';
import { TpmKeyStore } from '../main/core/identity/tpm-key-store.js';
import { startKeyring } from '../test/support/keyring.js';
import { startSwtpm } from '../test/support/swtpm.js';
import { percentile, report, round } from './stats.js';

async function timeEach(runs: number, work: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await work();
    out.push(performance.now() - t);
  }
  return out;
}

const DATA = Buffer.from('eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjF9');
const URL_ = 'https://broker.example.com/token';

async function measureStore(store: DeviceKeyStore, runs: number): Promise<{ signP50: number; proofP50: number }> {
  await store.create('bench');
  const signer = await openSigner(store, 'bench');
  const dpop = new DpopSigner(signer);
  await timeEach(Math.min(runs, 5), () => store.sign('bench', DATA)); // warm-up
  const sign = await timeEach(runs, () => store.sign('bench', DATA));
  const proof = await timeEach(runs, () => dpop.proof({ method: 'POST', url: URL_, accessToken: 'at' }));
  await store.delete('bench');
  return { signP50: percentile(sign, 50), proofP50: percentile(proof, 50) };
}

/**
 * p50 signing latency per key store and DPoP proofs per second with a software key. Starts its
 * own gnome-keyring (private D-Bus) and swtpm; a backend that cannot start is reported as null.
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const runs = Math.max(20, Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 200));
  const tpmRuns = Math.max(10, Number(args.find((a) => a.startsWith('--tpm-runs='))?.slice(11) ?? 30));
  const notes: string[] = [];

  const memory = await measureStore(new MemoryKeyStore(), runs);

  // Proofs per second: back-to-back proofs with a software key for about a second.
  const store = new MemoryKeyStore();
  await store.create('rate');
  const dpop = new DpopSigner(await openSigner(store, 'rate'));
  let proofs = 0;
  const started = performance.now();
  while (performance.now() - started < 1000) {
    await dpop.proof({ method: 'POST', url: URL_ });
    proofs++;
  }
  const proofsPerSecond = Math.round(proofs / ((performance.now() - started) / 1000));

  let keychain: { signP50: number; proofP50: number; unsealP50: number } | null = null;
  try {
    const ring = await startKeyring();
    ring.useInThisProcess();
    try {
      const measured = await measureStore(new KeychainKeyStore({ service: 'ward-bench' }), runs);
      const sealed = new KeychainKeyStore({ service: 'ward-bench' });
      await sealed.create('unseal');
      // A fresh store per run: what the first signature after an agent start costs (keychain read).
      const unseal = await timeEach(Math.min(runs, 30), () => new KeychainKeyStore({ service: 'ward-bench' }).sign('unseal', DATA));
      keychain = { ...measured, unsealP50: percentile(unseal, 50) };
    } finally {
      await ring.dispose();
    }
  } catch (err) {
    notes.push(`os-keychain not measured: ${(err as Error).message}`);
  }

  // The floor under any tpm2-tools call on this machine, right now: starting a process at all.
  const host = new LiveHost('linux', { allowList: { true: ['/bin/true', '/usr/bin/true'] } });
  const spawnFloorMs = percentile(await timeEach(tpmRuns, () => host.run('true', [])), 50);

  // The same swtpm, signed through the native tss2-esys addon and through a tpm2-tools process.
  let tpm: { signP50: number; proofP50: number } | null = null;
  let tpmTools: { signP50: number; proofP50: number } | null = null;
  const native = nativeTpmStatus();
  if (!native.available) notes.push(`native TPM signer not measured: ${native.reason}`);
  try {
    const swtpm = await startSwtpm();
    const stateDir = await mkdtemp(join(tmpdir(), 'ward-bench-tpm-'));
    const tpmStore = (signer: 'native' | 'tpm2-tools'): TpmKeyStore => new TpmKeyStore({ host: new LiveHost('linux'), stateDir, tcti: swtpm.tcti, signer });
    try {
      if (native.available) tpm = await measureStore(tpmStore('native'), runs);
      tpmTools = await measureStore(tpmStore('tpm2-tools'), tpmRuns);
    } finally {
      await swtpm.dispose();
      await rm(stateDir, { recursive: true, force: true });
    }
  } catch (err) {
    notes.push(`tpm not measured: ${(err as Error).message}`);
  }

  const figures = {
    bench: 'identity',
    runs,
    tpmRuns,
    softwareSignMs: round(memory.signP50, 4),
    softwareProofMs: round(keychain?.proofP50 ?? memory.proofP50, 4),
    memoryProofMs: round(memory.proofP50, 4),
    keychainSignMs: keychain ? round(keychain.signP50, 4) : null,
    keychainUnsealSignMs: keychain ? round(keychain.unsealP50, 2) : null,
    /** The native tss2-esys signer (what the TPM key store uses when the addon is built). */
    tpmSignMs: tpm ? round(tpm.signP50, 2) : null,
    tpmProofMs: tpm ? round(tpm.proofP50, 2) : null,
    tpmToolsSignMs: tpmTools ? round(tpmTools.signP50, 2) : null,
    tpmToolsProofMs: tpmTools ? round(tpmTools.proofP50, 2) : null,
    processSpawnMs: round(spawnFloorMs, 2),
    proofsPerSecond,
  };
  const ms = (v: number | null, unit = 'ms'): string => (v === null ? 'not measured' : `${v} ${unit}`);
  report(
    json,
    [
      `identity: p50 over ${runs} runs (TPM via tpm2-tools: ${tpmRuns})`,
      `  software key (memory)       sign ${figures.softwareSignMs} ms   DPoP proof ${figures.memoryProofMs} ms`,
      `  os-keychain (gnome-keyring) sign ${ms(figures.keychainSignMs)}   DPoP proof ${ms(keychain ? round(keychain.proofP50, 4) : null)}   first sign after start (keychain read) ${ms(figures.keychainUnsealSignMs)}`,
      `  tpm (swtpm, native esys)    sign ${ms(figures.tpmSignMs)}   DPoP proof ${ms(figures.tpmProofMs)}`,
      `  tpm (swtpm via tpm2-tools)  sign ${ms(figures.tpmToolsSignMs)}   DPoP proof ${ms(figures.tpmToolsProofMs)}`,
      `  baseline: starting /bin/true through the same Host p50 ${figures.processSpawnMs} ms (the floor under every tpm2-tools call)`,
      `  DPoP proofs per second (software key, one core): ${proofsPerSecond}`,
      `  targets: software ≤ 0.2 ms per proof; TPM via tpm2-tools ≤ 20 ms, native ≤ 5 ms per signature`,
      ...notes.map((n) => `  note: ${n}`),
    ],
    figures,
  );
}
