import type { CheckStatus, PostureSnapshot } from '../core/posture/snapshot.js';

const MARK: Record<CheckStatus, string> = { pass: 'PASS', fail: 'FAIL', unknown: '?   ', unsupported: 'n/a ', error: 'ERR ' };
const COLOUR: Record<CheckStatus, string> = { pass: '32', fail: '31', unknown: '33', unsupported: '90', error: '35' };

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out.length ? out : [''];
}

/** The human table for `ward posture`: one block per check, status first, fix steps under failures. */
export function renderPostureTable(snapshot: PostureSnapshot, options: { colour: boolean; width?: number }): string {
  const width = Math.max(60, Math.min(options.width ?? 100, 140));
  const idWidth = Math.max(...snapshot.checks.map((c) => c.id.length), 5);
  const paint = (status: CheckStatus, text: string): string => (options.colour ? `\u001b[${COLOUR[status]}m${text}\u001b[0m` : text);
  const d = snapshot.device;
  const lines = [
    `${d.os.name} ${d.os.version}${d.os.build ? ` (${d.os.build})` : ''} · ${d.hostname} · ${d.os.arch} · Ward ${d.agentVersion}`,
    `Taken ${snapshot.takenAt} in ${Math.round(snapshot.durationMs)} ms${snapshot.source.mode === 'replay' ? ` · replayed from ${snapshot.source.bundle ?? 'a bundle'}` : ''}`,
    '',
    `STATUS  ${'CHECK'.padEnd(idWidth)}  OBSERVED`,
  ];
  const textWidth = width - 10 - idWidth;
  for (const c of snapshot.checks) {
    const [first, ...more] = wrap(c.reason, textWidth);
    lines.push(`${paint(c.status, MARK[c.status])}    ${c.id.padEnd(idWidth)}  ${first}`);
    for (const m of more) lines.push(`${' '.repeat(10 + idWidth)}${m}`);
    for (const [i, step] of c.remediation.entries()) {
      const [head, ...tail] = wrap(step, textWidth - 5);
      lines.push(`${' '.repeat(10 + idWidth)}${i === 0 ? 'fix: ' : '     '}${head}`);
      for (const t of tail) lines.push(`${' '.repeat(15 + idWidth)}${t}`);
    }
  }
  const counts = snapshot.checks.reduce<Record<string, number>>((acc, c) => ({ ...acc, [c.status]: (acc[c.status] ?? 0) + 1 }), {});
  lines.push('', Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', '));
  return `${lines.join('\n')}\n`;
}
