import { outcome, type CheckOutcome } from '../../check.js';
import { field, parsePsObjects } from './powershell-output.js';
import { WINDOWS_CLIENT_BUILDS, WINDOWS_SERVER_BUILDS, WINDOWS_TABLE_DATE } from './windows-releases.js';

type Edition = 'consumer' | 'enterprise' | 'server' | 'ltsc' | undefined;

function editionOf(caption: string | undefined): Edition {
  if (!caption) return undefined;
  if (/LTS[BC]/i.test(caption)) return 'ltsc';
  if (/Server/i.test(caption)) return 'server';
  if (/Enterprise|Education/i.test(caption)) return 'enterprise';
  if (/Home|Pro/i.test(caption)) return 'consumer';
  return undefined;
}

/**
 * Whether this Windows build still gets security updates. Reads `Win32_OperatingSystem`
 * (`Caption`, `Version`, `BuildNumber`) as JSON, or the text of `Get-ComputerInfo` (`OsVersion`,
 * `OsName`/`WindowsProductName`).
 */
export function interpretWindowsVersion(text: string, now: Date): CheckOutcome {
  const objects = parsePsObjects(text);
  if (!objects.ok) return { status: objects.status, reason: objects.reason, observed: {} };
  const obj = objects.value[0];
  const version = obj && field(obj, 'Version', 'OsVersion');
  const buildText = (obj && field(obj, 'BuildNumber', 'OsBuildNumber')) ?? /^10\.0\.(\d+)/.exec(version ?? '')?.[1];
  const caption = obj && field(obj, 'Caption', 'OsName', 'WindowsProductName', 'ProductName');
  if (!buildText || !/^\d+$/.test(buildText)) return outcome.error(`no Windows build number in the output: "${text.trim().slice(0, 200)}"`);
  const build = Number(buildText);
  const edition = editionOf(caption);
  const table = edition === 'server' ? WINDOWS_SERVER_BUILDS : WINDOWS_CLIENT_BUILDS;
  const entry = table.find((b) => b.build === build);
  const observed = { caption: caption ?? null, version: version ?? null, build, edition: edition ?? null, release: entry?.name ?? null, tableDate: WINDOWS_TABLE_DATE };
  if (edition === 'ltsc') return outcome.unknown(`${caption} is a long-term servicing edition, which Ward's table does not cover`, observed);
  if (!entry) return outcome.unknown(`build ${build} is not in Ward's table of Windows releases (as of ${WINDOWS_TABLE_DATE})`, observed);
  const today = now.toISOString().slice(0, 10);
  const ends = edition === 'enterprise' ? [entry.enterpriseEnd] : edition === 'consumer' || edition === 'server' ? [entry.consumerEnd] : [entry.consumerEnd, entry.enterpriseEnd];
  const withEnd = { ...observed, endOfServicing: ends.length === 1 ? (ends[0] ?? null) : null };
  if (ends.every((d) => d < today)) return outcome.fail(`${entry.name} stopped receiving security updates on ${ends.sort().at(-1)}`, withEnd);
  if (ends.every((d) => d >= today)) return outcome.pass(`${entry.name} receives security updates until ${ends.sort()[0]}`, withEnd);
  return outcome.unknown(`${entry.name} is still serviced for Enterprise/Education until ${entry.enterpriseEnd} but not for Home/Pro since ${entry.consumerEnd}, and the edition is not known`, withEnd);
}
