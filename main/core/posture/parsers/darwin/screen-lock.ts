import { outcome, type CheckOutcome } from '../../check.js';
import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

/** Seconds between the screen saver / display sleep starting and the password being required; null = never locks. */
export type LockDelay = { readonly enabled: false } | { readonly enabled: true; readonly delaySeconds: number };

/**
 * `sysadminctl -screenLock status` logs one line on stderr, after a timestamp and process prefix:
 * "screenLock delay is immediate", "screenLock delay is N seconds" or "screenLock is off".
 * (No capture with a public address was found; see test/fixtures/darwin/SOURCES.md.)
 */
export function parseSysadminctlScreenLock(text: string): ParseResult<LockDelay> {
  if (/screenLock is off/i.test(text)) return parsed({ enabled: false });
  if (/screenLock delay is immediate/i.test(text)) return parsed({ enabled: true, delaySeconds: 0 });
  const m = /screenLock delay is (\d+) seconds?/i.exec(text);
  if (m?.[1]) return parsed({ enabled: true, delaySeconds: Number(m[1]) });
  return unparsable('the sysadminctl -screenLock status output', text);
}

/**
 * `pmset -g`: the `displaysleep` of the settings "Currently in use", in minutes (0 = never).
 * Lines may carry annotations such as "(sleep prevented by ...)".
 */
export function parsePmsetDisplaySleep(text: string): ParseResult<number> {
  let minutes: number | undefined;
  for (const line of linesOf(text)) {
    const m = /^\s*displaysleep\s+(\d+)\b/.exec(line);
    if (m?.[1]) minutes = Number(m[1]);
  }
  return minutes === undefined ? unparsable('the displaysleep setting in the pmset -g output', text) : parsed(minutes);
}

/** `defaults -currentHost read com.apple.screensaver idleTime`: seconds, 0 = never. */
export function parseScreensaverIdleTime(text: string): ParseResult<number> {
  const t = text.trim();
  return /^\d{1,9}$/.test(t) ? parsed(Number(t)) : unparsable('the screen saver idle time', text);
}

export interface ScreenLockInputs {
  readonly lock: LockDelay;
  /** Display sleep in minutes (0 = never). */
  readonly displaySleepMinutes: number;
  /** Screen saver idle time in seconds (0 = never); undefined when it could not be read. */
  readonly screensaverIdleSeconds: number | undefined;
  readonly maxSeconds: number;
}

/**
 * The Mac locks when the display sleeps or the screen saver starts, plus the lock delay. With the
 * screen saver's idle time unreadable, the display-sleep figure is an upper bound: enough to pass,
 * never enough to fail.
 */
export function evaluateMacScreenLock(input: ScreenLockInputs): CheckOutcome {
  const { lock, displaySleepMinutes, screensaverIdleSeconds, maxSeconds } = input;
  const displaySeconds = displaySleepMinutes * 60;
  const observed = {
    lockEnabled: lock.enabled,
    lockDelaySeconds: lock.enabled ? lock.delaySeconds : null,
    displaySleepSeconds: displaySeconds,
    screensaverIdleSeconds: screensaverIdleSeconds ?? null,
    maxSeconds,
  };
  if (!lock.enabled) return outcome.fail('no password is required after the screen saver starts or the display sleeps', observed);
  const idles = [displaySeconds, screensaverIdleSeconds].filter((s): s is number => s !== undefined && s > 0);
  if (idles.length === 0) {
    if (screensaverIdleSeconds === undefined) {
      return outcome.unknown('the display never sleeps and the screen saver idle time could not be read', observed);
    }
    return outcome.fail('neither the display nor the screen saver ever starts on idle, so the screen never locks by itself', observed);
  }
  const lockAfter = Math.min(...idles) + lock.delaySeconds;
  const withLock = { ...observed, locksAfterSeconds: lockAfter };
  if (lockAfter <= maxSeconds) return outcome.pass(`the screen locks after at most ${lockAfter} s idle (limit ${maxSeconds} s)`, withLock);
  if (screensaverIdleSeconds === undefined) {
    return outcome.unknown(`display sleep alone locks after ${lockAfter} s, over the ${maxSeconds} s limit; the screen saver idle time could not be read`, withLock);
  }
  return outcome.fail(`the screen locks only after ${lockAfter} s idle (limit ${maxSeconds} s)`, withLock);
}
