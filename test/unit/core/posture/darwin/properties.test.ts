import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseFindCertificate } from '../../../../../main/core/posture/parsers/darwin/certificates.js';
import { interpretCsrutilStatus } from '../../../../../main/core/posture/parsers/darwin/csrutil.js';
import { parseFalconctlStats, parseMdatpHealth, parseSentinelctlStatus } from '../../../../../main/core/posture/parsers/darwin/edr-agents.js';
import { interpretFdesetupStatus } from '../../../../../main/core/posture/parsers/darwin/fdesetup.js';
import { parseBundleVersion, parseSpctlStatus } from '../../../../../main/core/posture/parsers/darwin/gatekeeper.js';
import { parsePsList } from '../../../../../main/core/posture/parsers/darwin/ps.js';
import { parseRemoteLogin } from '../../../../../main/core/posture/parsers/darwin/remote-login.js';
import { parsePmsetDisplaySleep, parseScreensaverIdleTime, parseSysadminctlScreenLock } from '../../../../../main/core/posture/parsers/darwin/screen-lock.js';
import { interpretFirewallGlobalState } from '../../../../../main/core/posture/parsers/darwin/socketfilterfw.js';
import { interpretSoftwareUpdatePrefs } from '../../../../../main/core/posture/parsers/darwin/software-update-prefs.js';
import { parseSoftwareUpdateList } from '../../../../../main/core/posture/parsers/darwin/softwareupdate.js';
import { parseSwVers } from '../../../../../main/core/posture/parsers/darwin/sw-vers.js';
import { parseSystemProfiler } from '../../../../../main/core/posture/parsers/darwin/system-profiler.js';

/** Arbitrary text, including multi-line text with the separators these tools use. */
const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.array(fc.string(), { maxLength: 8 }).map((l) => l.join('\n')), fc.array(fc.string(), { maxLength: 6 }).map((l) => l.join(':\t')));

const verdicts = {
  fdesetup: interpretFdesetupStatus,
  socketfilterfw: interpretFirewallGlobalState,
  csrutil: interpretCsrutilStatus,
  softwareUpdatePrefs: (t: string) => interpretSoftwareUpdatePrefs(t, 0),
};

const parsers = {
  swVers: parseSwVers,
  softwareupdate: parseSoftwareUpdateList,
  sysadminctl: parseSysadminctlScreenLock,
  pmset: parsePmsetDisplaySleep,
  screensaverIdle: parseScreensaverIdleTime,
  spctl: parseSpctlStatus,
  bundleVersion: parseBundleVersion,
  falconctl: parseFalconctlStats,
  mdatp: parseMdatpHealth,
  sentinelctl: parseSentinelctlStatus,
  remoteLogin: parseRemoteLogin,
  ps: parsePsList,
  certificates: (t: string) => parseFindCertificate(t, '/Library/Keychains/System.keychain'),
  systemProfiler: parseSystemProfiler,
};

describe('macOS parsers on arbitrary input', () => {
  it.each(Object.entries(verdicts))('%s never throws and only says error or unknown', (_name, interpret) => {
    fc.assert(
      fc.property(text, (t) => {
        const r = interpret(t);
        expect(['error', 'unknown']).toContain(r.status);
        expect(r.reason.length).toBeGreaterThan(0);
      }),
    );
  });

  it.each(Object.entries(parsers))('%s never throws and fails only as error or unknown with a reason', (_name, parse) => {
    fc.assert(
      fc.property(text, (t) => {
        const r = parse(t) as { ok: boolean; status?: string; reason?: string };
        if (!r.ok) {
          expect(['error', 'unknown']).toContain(r.status);
          expect(r.reason?.length).toBeGreaterThan(0);
        }
      }),
    );
  });
});
