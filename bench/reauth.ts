import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBroker } from '../broker/server/broker.js';
import { hashPassword } from '../broker/server/passwords.js';
import { Agent } from '../main/core/agent.js';
import { Outbox } from '../main/core/broker/outbox.js';
import { CONFIG_DEFAULTS } from '../main/core/config/schema.js';
import { LiveHost } from '../main/core/exec/live-host.js';
import { openSigner } from '../main/core/identity/device-signer.js';
import { enroll } from '../main/core/identity/enrollment.js';
import { IdentityFile } from '../main/core/identity/identity-record.js';
import { MemoryKeyStore } from '../main/core/identity/memory-key-store.js';
import { requiredFiles } from '../main/core/posture/checks/required-files.js';
import { PostureConfigSchema } from '../main/core/posture/config.js';
import { takeSnapshot } from '../main/core/posture/engine.js';
import { MemoryTokenStore } from '../main/core/session/token-store.js';
import { percentile, report, round } from './stats.js';
import { measureIdleDaemon } from './support/idle-daemon.js';

/**
 * Continuous-access latency: from a posture change on disk (a required file disappears from a
 * watched directory) to the broker holding the non-compliant verdict and its CAEP
 * `device-compliance-change` SET arriving back at the agent over the event channel. Then the
 * headless agent's idle RSS and CPU over `--idle-seconds` (default 60), measured from /proc
 * (bench/support/idle-daemon.ts).
 */
export async function run(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const changes = Math.max(20, Number(args.find((a) => a.startsWith('--changes='))?.slice(10) ?? 20));
  const idleSeconds = Math.max(5, Number(args.find((a) => a.startsWith('--idle-seconds='))?.slice(15) ?? 60));
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-reauth-'));
  // One user to sign the idle daemon in, and access tokens living 120 s: the daemon refreshes
  // 90 s after sign-in (30 s before expiry), before its signed-in idle window, and not during it.
  const user = { username: 'bench', password: 'bench password for the idle daemon' };
  const accessTokenTtlSeconds = 120;
  const broker = await createBroker({
    dataDir: join(dir, 'broker'),
    port: 0,
    adminToken: 'wba_bench-admin-credential-0123456789',
    config: { users: [{ username: user.username, passwordHash: await hashPassword(user.password), name: 'Bench' }], accessTokenTtlSeconds },
  });
  broker.admin.setPolicy({ schemaVersion: 1, name: 'bench', rules: [{ id: 'files', check: 'required-files', expect: { status: 'pass' }, severity: 'block', graceSeconds: 0 }] });
  const watched = join(dir, 'watched');
  mkdirSync(watched);
  const required = join(watched, 'agent.conf');
  writeFileSync(required, 'on');

  const host = new LiveHost('linux');
  const store = new MemoryKeyStore();
  const identity = new IdentityFile(join(dir, 'state'));
  const device = (await takeSnapshot({ host, agentVersion: '0.1.0', checks: [] })).device;
  await enroll(broker.url, broker.admin.createEnrollmentToken({ label: 'bench' }).token, { identity, device, store });
  const outbox = Outbox.open(join(dir, 'state', 'outbox.db'));
  const agent = new Agent({
    host,
    config: { ...CONFIG_DEFAULTS, brokerUrl: broker.url, posture: PostureConfigSchema.parse({ requiredFiles: [{ path: required }] }) },
    loadIdentity: () => identity.read(),
    openSigner: (r) => openSigner(store, r.keyAlias),
    tokenStore: new MemoryTokenStore(),
    outbox,
    checks: [requiredFiles],
    networkPollMs: 0,
  });
  const nextSet = (status: 'compliant' | 'not-compliant'): Promise<number> =>
    new Promise((resolve) => {
      const on = (set: { type: string; event: Record<string, unknown> }): void => {
        if (set.type === 'device-compliance-change' && set.event.current_status === status) {
          agent.off('caep', on);
          resolve(performance.now());
        }
      };
      agent.on('caep', on);
    });
  await agent.start();
  // Wait until the event channel is up and the broker holds the first (compliant) verdict.
  for (let i = 0; i < 100 && !(broker.admin.deviceDetail(agent.identity!.deviceId) as { connected?: boolean }).connected; i++) await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 100 && outbox.stats().pending > 0; i++) await new Promise((r) => setTimeout(r, 50));

  const latencies: number[] = [];
  for (let i = 0; i < changes; i++) {
    const flipped = nextSet('not-compliant');
    const t0 = performance.now();
    unlinkSync(required);
    latencies.push((await flipped) - t0);
    const back = nextSet('compliant');
    writeFileSync(required, `on ${i}`);
    await back;
  }
  // Broker queries: a challenge down the event channel, answered with a nonce-bound report.
  const challengeMs: number[] = [];
  for (let i = 0; i < changes; i++) {
    const t0 = performance.now();
    await broker.admin.challenge(agent.identity!.deviceId, 5_000);
    challengeMs.push(performance.now() - t0);
  }
  const verdict = broker.admin.deviceDetail(agent.identity!.deviceId);
  await agent.stop();
  outbox.close();

  // Idle: the headless agent as it ships (`ward daemon`: compiled bundle, daemon V8 flags, key
  // in a real keychain), a separate process sampled from /proc, beside a bare node.
  // The required-files rule was for the in-process agent above; the daemon runs the default checks.
  broker.admin.setPolicy({ schemaVersion: 1, name: 'bench-idle', rules: [] });
  // First enrolled only, then signed in with one token refresh done (what real users run).
  const idle = await measureIdleDaemon({
    brokerUrl: broker.url,
    enrollmentToken: broker.admin.createEnrollmentToken({ label: 'idle' }).token,
    idleSeconds,
    signIn: { ...user, accessTokenTtlSeconds },
  });
  await broker.close();
  rmSync(dir, { recursive: true, force: true });

  const figures = {
    bench: 'reauth',
    changes,
    changeToVerdictP50Ms: round(percentile(latencies, 50)),
    changeToVerdictP95Ms: round(percentile(latencies, 95)),
    changeToVerdictMaxMs: round(Math.max(...latencies)),
    challengeP50Ms: round(percentile(challengeMs, 50)),
    challengeP95Ms: round(percentile(challengeMs, 95)),
    ...idle,
    brokerDevice: (verdict as { connected?: boolean }).connected ? 'connected' : 'disconnected',
  };
  report(
    json,
    [
      `reauth: posture change → broker non-compliant verdict → CAEP SET back at the agent, ${changes} changes`,
      `  p50 ${figures.changeToVerdictP50Ms} ms   p95 ${figures.changeToVerdictP95Ms} ms   max ${figures.changeToVerdictMaxMs} ms   (goal p95 ≤ 1000 ms)`,
      `  broker challenge → nonce-bound report back: p50 ${figures.challengeP50Ms} ms   p95 ${figures.challengeP95Ms} ms   (goal < 500 ms)`,
      `  idle \`ward daemon\` (all checks, watchers, 60 s safety net, event channel, loopback API) over ${idle.idleSeconds} s,`,
      `  ${idle.fromBundle ? 'compiled bundle' : 'from source through tsx (the bundle went stale while measuring)'}, flags ${idle.daemonFlags || '(none)'}:`,
      `  signed in, after ${idle.refreshesBeforeWindow} DPoP token refresh (${idle.refreshesInWindow} during the window; tokens live ${idle.accessTokenTtlSeconds} s):`,
      `  RSS ${idle.idleRssMb} MB (peak ${idle.idlePeakRssMb})   CPU ${idle.idleCpuPercent} %   (goals ≤ 60 MB, ≤ 0.5 %)   launcher + daemon Pss ${idle.idleTotalPssMb} MB`,
      `  enrolled, not signed in: RSS ${idle.idleRssNotSignedInMb} MB (peak ${idle.idlePeakRssNotSignedInMb})   CPU ${idle.idleCpuNotSignedInPercent} %   launcher + daemon Pss ${idle.idleTotalPssNotSignedInMb} MB`,
      `  bare node with the same flags: RSS ${idle.bareNodeRssMb} MB`,
      ...(idle.launcherRssMb === undefined ? [] : [`  launcher (bin/ward.mjs, waits for the daemon; Node < 22.15 has no execve): RSS ${idle.launcherRssMb} MB, private ${idle.launcherPrivateMb} MB`]),
    ],
    figures,
  );
  process.exit(0);
}
