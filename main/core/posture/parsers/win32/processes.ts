import type { ProcessInfo } from '../../probes/probes.js';
import { parsed, unparsable, type ParseResult } from '../parse-result.js';
import { field, parsePsObjects } from './powershell-output.js';

/** `Get-Process | Select-Object Id,ProcessName,Path` (JSON or table). Names are as Windows shows them, without ".exe". */
export function parseWindowsProcesses(text: string): ParseResult<ProcessInfo[]> {
  const objects = parsePsObjects(text);
  if (!objects.ok) return objects;
  const rows: ProcessInfo[] = [];
  for (const o of objects.value) {
    const id = field(o, 'Id');
    const name = field(o, 'ProcessName', 'Name');
    if (!id || !/^\d+$/.test(id) || !name) return unparsable('a process in the Get-Process output', JSON.stringify(o));
    rows.push({ pid: Number(id), name, exe: field(o, 'Path') ?? null });
  }
  if (rows.length === 0) return unparsable('the Get-Process output', text);
  return parsed(rows);
}
