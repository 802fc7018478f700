import { isExecError } from '../../exec/exec-error.js';
import { describeError } from '../../errors.js';
import { outcome, type PostureCheck } from '../check.js';

export const requiredFiles: PostureCheck = {
  id: 'required-files',
  title: 'Required files present',
  description: 'Files the policy requires exist (and match their SHA-256 where pinned).',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'each configured path (SHA-256 where pinned)',
    darwin: 'each configured path (SHA-256 where pinned)',
    win32: 'each configured path (SHA-256 where pinned)',
  },
  remediation: {
    linux: ['Reinstall the software that provides the missing file, or ask IT: a file your company requires is missing or altered.'],
    darwin: ['Reinstall the software that provides the missing file from Self Service, or ask IT.'],
    win32: ['Reinstall the software that provides the missing file from Company Portal, or ask IT.'],
  },
  async collect(ctx) {
    const rules = ctx.config.requiredFiles;
    const config = { kind: 'config' as const, source: 'requiredFiles', excerpt: JSON.stringify(rules).slice(0, 2000) };
    const files = await Promise.all(
      rules.map(async (rule) => {
        try {
          const sha256 = await ctx.host.hashFile(rule.path, { signal: ctx.signal });
          const ok = rule.sha256 === undefined || rule.sha256 === sha256;
          return { path: rule.path, present: true, sha256, ok, problem: ok ? null : 'hash differs' };
        } catch (err) {
          if (isExecError(err, 'not-found')) return { path: rule.path, present: false, sha256: null, ok: false, problem: 'missing' };
          return { path: rule.path, present: null, sha256: null, ok: null, problem: describeError(err) };
        }
      }),
    );
    const observed = { files };
    const bad = files.filter((f) => f.ok === false);
    const undetermined = files.filter((f) => f.ok === null);
    if (bad.length > 0) {
      return { ...outcome.fail(bad.map((f) => `${f.path}: ${f.problem}`).join('; '), observed), extraEvidence: [config] };
    }
    if (undetermined.length > 0) {
      return { ...outcome.unknown(undetermined.map((f) => `${f.path}: ${f.problem}`).join('; '), observed), extraEvidence: [config] };
    }
    const why = rules.length === 0 ? 'no required files are configured' : `all ${rules.length} required files are present and match`;
    return { ...outcome.pass(why, observed), extraEvidence: [config] };
  },
};
