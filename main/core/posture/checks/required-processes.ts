import { outcome, type PostureCheck } from '../check.js';
import { describeRule, PROCESS_READS, runProcessRules } from './process-rules.js';

export const requiredProcesses: PostureCheck = {
  id: 'required-processes',
  title: 'Required apps running',
  description: 'Every app the policy requires is running (by name, and by executable SHA-256 where pinned).',
  platforms: ['linux', 'darwin', 'win32'],
  reads: PROCESS_READS,
  remediation: {
    linux: ['Start the missing app (see the list above), or reinstall it from your company\'s software portal.'],
    darwin: ['Open the missing app (see the list above) from Applications, or reinstall it from Self Service.'],
    win32: ['Start the missing app (see the list above), or reinstall it from Company Portal.'],
  },
  async collect(ctx) {
    const rules = ctx.config.requiredProcesses;
    const run = await runProcessRules(ctx, rules, 'requiredProcesses');
    if ('status' in run) return run;
    const { config, processes, results } = run;
    const missing = results.filter((r) => r.matches.length === 0);
    const observed = {
      processCount: processes.length,
      required: results.map((r) => ({
        name: r.rule.name,
        sha256: r.rule.sha256 ?? null,
        running: r.matches.length > 0,
        pids: r.matches.map((m) => m.pid),
        mismatched: r.mismatched,
      })),
    };
    if (rules.length === 0) {
      return { ...outcome.pass(`no required apps are configured; ${processes.length} processes inspected`, observed), extraEvidence: [config] };
    }
    if (missing.length > 0) {
      const names = missing.map((m) => describeRule(m.rule) + (m.mismatched.length ? ` (${m.mismatched[0]?.problem})` : ''));
      return { ...outcome.fail(`not running: ${names.join(', ')}`, observed), extraEvidence: [config] };
    }
    return { ...outcome.pass(`all ${rules.length} required apps are running`, observed), extraEvidence: [config] };
  },
};
