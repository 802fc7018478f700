import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

export interface AgentHealth {
  /** True when the agent reports itself healthy/connected, false when it reports a problem. */
  readonly healthy: boolean;
  readonly detail: string;
}

/** `falconctl stats`: the `State:` line of the "Cloud Info" section ("connected" when the sensor talks to its cloud). */
export function parseFalconctlStats(text: string): ParseResult<AgentHealth> {
  const lines = linesOf(text);
  const start = lines.findIndex((l) => /^\s*Cloud Info\s*$/.test(l));
  if (start < 0) return unparsable('the Cloud Info section of falconctl stats', text);
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line) || /^===/.test(line)) break;
    const m = /^\s+State:\s*(\S.*)$/.exec(line);
    if (m?.[1]) {
      const state = m[1].trim();
      return parsed({ healthy: state.toLowerCase() === 'connected', detail: `CrowdStrike Falcon cloud state: ${state}` });
    }
  }
  return unparsable('the cloud state in falconctl stats', text);
}

/**
 * `mdatp health`: `key : value` lines; `healthy : true|false` (same CLI on macOS and Linux; the
 * legacy CLI spells other keys in camelCase, `healthy` in both).
 */
export function parseMdatpHealth(text: string): ParseResult<AgentHealth> {
  const m = /^\s*healthy\s*:\s*(true|false)\s*$/m.exec(text);
  if (!m?.[1]) return unparsable('the healthy field of mdatp health', text);
  const healthy = m[1] === 'true';
  const licensed = /^\s*licensed\s*:\s*(true|false)\s*$/m.exec(text)?.[1];
  return parsed({ healthy, detail: `Microsoft Defender for Endpoint healthy: ${m[1]}${licensed ? `, licensed: ${licensed}` : ''}` });
}

/**
 * `sentinelctl status`: a line such as "Agent Operational State: ... enabled/disabled" or
 * "Protection: enabled". No capture with a public address was found, so this reads only an explicit
 * enabled/disabled on a protection or operational-state line and calls anything else unreadable.
 */
export function parseSentinelctlStatus(text: string): ParseResult<AgentHealth> {
  const m = /^\s*(Protection|Agent Operational State)\s*:\s*(\w[\w ]*)$/im.exec(text);
  const value = m?.[2]?.trim().toLowerCase();
  if (value === 'enabled' || value === 'disabled') {
    return parsed({ healthy: value === 'enabled', detail: `SentinelOne ${m?.[1] ?? ''}: ${value}` });
  }
  return unparsable('the sentinelctl status output', text);
}
