import { outcome, type PostureCheck } from '../check.js';

/** Compare dotted numeric versions (pre-release suffixes ignored): negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string): number[] => (v.split(/[-+]/)[0] ?? '').split('.').map((n) => Number.parseInt(n, 10) || 0);
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export const agentVersion: PostureCheck = {
  id: 'agent-version',
  title: 'Ward up to date',
  description: 'This Ward agent is at least the version the policy requires.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: { linux: 'Ward\'s own version', darwin: 'Ward\'s own version', win32: 'Ward\'s own version' },
  remediation: {
    linux: ['Update Ward: choose "Check for updates" in the tray menu, or install the latest package from IT.'],
    darwin: ['Update Ward: choose "Check for updates" in the tray menu, or install the latest package from Self Service.'],
    win32: ['Update Ward: choose "Check for updates" in the tray menu, or install the latest package from Company Portal.'],
  },
  collect(ctx) {
    const minimum = ctx.config.minimumAgentVersion;
    const observed = { version: ctx.agentVersion, minimum: minimum ?? null };
    const evidence = [{ kind: 'config' as const, source: 'agent version', excerpt: `running ${ctx.agentVersion}; minimum ${minimum ?? 'not set'}` }];
    if (minimum && compareVersions(ctx.agentVersion, minimum) < 0) {
      return Promise.resolve({ ...outcome.fail(`Ward ${ctx.agentVersion} is older than the required ${minimum}`, observed), extraEvidence: evidence });
    }
    const why = minimum ? `Ward ${ctx.agentVersion} meets the required ${minimum}` : `Ward ${ctx.agentVersion}; no minimum version is configured`;
    return Promise.resolve({ ...outcome.pass(why, observed), extraEvidence: evidence });
  },
};
