import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../../../main/core/session/clock.js';
import { StepUpPrompt } from '../../../../main/core/session/step-up.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
});
afterEach(() => vi.useRealTimers());

describe('StepUpPrompt (fake clock)', () => {
  it('expires an unanswered prompt at its deadline', async () => {
    const prompt = new StepUpPrompt({ clock: systemClock, timeoutMs: 120_000 });
    const opened: string[] = [];
    const result = prompt.ask({ reason: 'mfa', acrValues: ['urn:ward:acr:mfa'], maxAgeSeconds: 0 }, (r) => opened.push(r.deadline));
    expect(opened).toEqual(['2026-01-01T00:02:00.000Z']);
    expect(prompt.pending?.acr_values).toBe('urn:ward:acr:mfa');
    await vi.advanceTimersByTimeAsync(119_999);
    expect(prompt.pending).toBeDefined();
    await vi.advanceTimersByTimeAsync(1);
    expect((await result).decision).toBe('expired');
    expect(prompt.pending).toBeUndefined();
  });

  it('joins a second ask to the open prompt and settles both with one answer', async () => {
    const prompt = new StepUpPrompt({ clock: systemClock });
    let opens = 0;
    const a = prompt.ask({ reason: 'one' }, () => opens++);
    const b = prompt.ask({ reason: 'two' }, () => opens++);
    expect(opens).toBe(1);
    expect(prompt.decide('not-the-id', 'accept')).toBe('unknown-request');
    expect(prompt.decide(prompt.pending!.id, 'accept')).toBe('accepted');
    expect((await a).decision).toBe('accepted');
    expect((await b).decision).toBe('accepted');
    expect(prompt.decide((await a).request.id, 'decline')).toBe('unknown-request');
  });
});
