import type { ProcessInfo } from '../../probes/probes.js';
import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

/** `ps -axo pid=,comm=`: one "PID command" line per process; on macOS `comm` is the executable's full path. */
export function parsePsList(text: string): ParseResult<ProcessInfo[]> {
  const rows: ProcessInfo[] = [];
  for (const line of linesOf(text)) {
    if (!line.trim()) continue;
    const m = /^\s*(\d+)\s+(\S.*)$/.exec(line);
    if (!m?.[1] || !m[2]) return unparsable('a line of the ps output', line);
    const command = m[2].trim();
    const exe = command.startsWith('/') ? command : null;
    rows.push({ pid: Number(m[1]), name: exe ? (exe.split('/').pop() ?? exe) : command, exe });
  }
  if (rows.length === 0) return unparsable('the ps output', text);
  return parsed(rows);
}
