import { outcome, type PostureCheck } from '../check.js';
import { describeRule, PROCESS_READS, runProcessRules } from './process-rules.js';

export const forbiddenProcesses: PostureCheck = {
  id: 'forbidden-processes',
  title: 'Forbidden apps not running',
  description: 'No app the policy forbids is running (by name, or by executable SHA-256 where pinned).',
  platforms: ['linux', 'darwin', 'win32'],
  reads: PROCESS_READS,
  remediation: {
    linux: ['Quit the app named above and uninstall it (`sudo apt-get remove …`); it is not allowed on company devices.'],
    darwin: ['Quit the app named above and move it to the Trash; it is not allowed on company devices.'],
    win32: ['Quit the app named above and uninstall it from Settings → Apps; it is not allowed on company devices.'],
  },
  async collect(ctx) {
    const rules = ctx.config.forbiddenProcesses;
    const run = await runProcessRules(ctx, rules, 'forbiddenProcesses');
    if ('status' in run) return run;
    const { config, processes, results } = run;
    const running = results.filter((r) => r.matches.length > 0);
    // A pinned rule whose name matched but whose hash could not be read cannot be ruled out.
    const undetermined = results.filter((r) => r.matches.length === 0 && r.mismatched.some((m) => !m.problem.startsWith('its executable hash is')));
    const observed = {
      processCount: processes.length,
      forbidden: results.map((r) => ({ name: r.rule.name, sha256: r.rule.sha256 ?? null, running: r.matches.length > 0, pids: r.matches.map((m) => m.pid) })),
    };
    if (running.length > 0) {
      return { ...outcome.fail(`running: ${running.map((r) => describeRule(r.rule)).join(', ')}`, observed), extraEvidence: [config] };
    }
    if (undetermined.length > 0) {
      return { ...outcome.unknown(`could not verify: ${undetermined.map((r) => describeRule(r.rule)).join(', ')}`, observed), extraEvidence: [config] };
    }
    const why = rules.length === 0 ? 'no forbidden apps are configured' : `none of the ${rules.length} forbidden apps is running`;
    return { ...outcome.pass(`${why}; ${processes.length} processes inspected`, observed), extraEvidence: [config] };
  },
};
