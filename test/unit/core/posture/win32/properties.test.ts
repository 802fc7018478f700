import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { interpretBitLockerVolumes, interpretManageBde } from '../../../../../main/core/posture/parsers/win32/bitlocker.js';
import { parseWindowsCertificates } from '../../../../../main/core/posture/parsers/win32/certificates.js';
import { interpretMpComputerStatus } from '../../../../../main/core/posture/parsers/win32/defender.js';
import { parseWindowsFacts } from '../../../../../main/core/posture/parsers/win32/device-facts.js';
import { interpretNetFirewallProfiles, interpretNetshFirewall } from '../../../../../main/core/posture/parsers/win32/firewall.js';
import { interpretHotfixes } from '../../../../../main/core/posture/parsers/win32/hotfix.js';
import { interpretWindowsVersion } from '../../../../../main/core/posture/parsers/win32/os-version.js';
import { parsePsObjects } from '../../../../../main/core/posture/parsers/win32/powershell-output.js';
import { parseWindowsProcesses } from '../../../../../main/core/posture/parsers/win32/processes.js';
import { interpretWindowsScreenLock } from '../../../../../main/core/posture/parsers/win32/screen-lock.js';
import { interpretConfirmSecureBoot } from '../../../../../main/core/posture/parsers/win32/secure-boot.js';
import { parseScQuery } from '../../../../../main/core/posture/parsers/win32/service-query.js';
import { interpretSshdService } from '../../../../../main/core/posture/parsers/win32/sshd-service.js';
import { interpretUpdatePolicy } from '../../../../../main/core/posture/parsers/win32/update-policy.js';

const now = new Date('2026-11-28T00:00:00Z');

/** Arbitrary text, arbitrary JSON, and text shaped like PowerShell's list and table formats. */
const text = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.json(),
  fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 6 }).map((kv) => kv.map(([k, v]) => `${k} : ${v}`).join('\n')),
  fc.array(fc.string(), { maxLength: 6 }).map((l) => ['Name  Status', '----  ------', ...l].join('\n')),
);

/**
 * Interpreters whose every non-failing verdict needs specific words or values that random text
 * will not contain. (The sshd interpreter passes on empty output or a listing of other services
 * by design — "no OpenSSH server" — so it is checked for never throwing and a reason only.)
 */
const strict = {
  osVersion: (t: string) => interpretWindowsVersion(t, now),
  hotfixes: (t: string) => interpretHotfixes(t, now),
  bitlocker: (t: string) => interpretBitLockerVolumes(t, 'C:'),
  manageBde: (t: string) => interpretManageBde(t, 'C:'),
  netFirewallProfile: interpretNetFirewallProfiles,
  netsh: interpretNetshFirewall,
  screenLock: (t: string) => interpretWindowsScreenLock(t, 900),
  defender: interpretMpComputerStatus,
  secureBoot: interpretConfirmSecureBoot,
  updatePolicy: (t: string) => interpretUpdatePolicy(t, now),
};
const lenient = { sshd: interpretSshdService };

const parsers = {
  psObjects: parsePsObjects,
  processes: parseWindowsProcesses,
  certificates: parseWindowsCertificates,
  facts: parseWindowsFacts,
  scQuery: (t: string) => parseScQuery(t, 'Sense'),
};

describe('Windows parsers on arbitrary input', () => {
  it.each(Object.entries(strict))('%s never throws and only says error or unknown', (_name, interpret) => {
    fc.assert(
      fc.property(text, (t) => {
        const r = interpret(t);
        expect(['error', 'unknown']).toContain(r.status);
        expect(r.reason.length).toBeGreaterThan(0);
      }),
    );
  });

  it.each(Object.entries(lenient))('%s never throws and always gives a reason', (_name, interpret) => {
    fc.assert(
      fc.property(text, (t) => {
        expect(interpret(t).reason.length).toBeGreaterThan(0);
      }),
    );
  });

  it.each(Object.entries(parsers))('%s never throws and fails only as error or unknown', (_name, parse) => {
    fc.assert(
      fc.property(text, (t) => {
        const r = parse(t) as { ok: boolean; status?: string };
        if (!r.ok) expect(['error', 'unknown']).toContain(r.status);
      }),
    );
  });
});
