import { describe, expect, it } from 'vitest';
import { explainStepUp } from '../../../main/cli/access.js';

describe('explainStepUp', () => {
  it('says what RFC 9470 asks in plain words', () => {
    const text = explainStepUp({ reason: 'a different authentication level is required', acr_values: 'urn:ward:acr:mfa', max_age: 3600, resource: 'https://b.example/demo/resource' });
    expect(text).toBe(
      'https://b.example/demo/resource asks you to sign in again.\n' +
        '  why:  a different authentication level is required\n' +
        '  how:  a multi-factor sign-in (password and a one-time code) (acr_values urn:ward:acr:mfa)\n' +
        '  when: a sign-in no older than 60 minutes (max_age 3600)\n',
    );
    expect(explainStepUp({ reason: 'r', max_age: 0 })).toContain('a sign-in made just now (max_age 0)');
    expect(explainStepUp({ reason: 'r', acr_values: 'urn:x \u001b[2Jgold' })).toContain('"urn:x" or "[2Jgold"');
  });
});
