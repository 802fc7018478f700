import { PLATFORMS } from '../core/platform.js';
import { ALL_CHECKS } from '../core/posture/registry.js';
import { EXIT, type CliIO, parseCommandArgs } from './io.js';

export function run(args: string[], io: CliIO): Promise<number> {
  const parsed = parseCommandArgs(args, io, { json: { type: 'boolean', default: false } }, 'Usage: ward checks [--json]\n\nLists the posture checks and what each reads on each OS.\n', { command: 'checks' });
  if ('exit' in parsed) return Promise.resolve(parsed.exit);
  const { values } = parsed;
  const rows = ALL_CHECKS.map((c) => ({ id: c.id, title: c.title, description: c.description, platforms: c.platforms, reads: c.reads }));
  if (values.json) {
    io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
    return Promise.resolve(EXIT.ok);
  }
  const out: string[] = [];
  for (const r of rows) {
    out.push(`${r.id} — ${r.title}`, `  ${r.description}`);
    for (const p of PLATFORMS) out.push(`  ${p.padEnd(6)} ${r.platforms.includes(p) ? (r.reads[p] ?? '') : 'not available'}`);
    out.push('');
  }
  io.stdout(out.join('\n'));
  return Promise.resolve(EXIT.ok);
}
