import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { endOfLife, EOL_TABLE } from '../../../../../main/core/posture/parsers/linux/os-eol.js';
import { parseOsRelease } from '../../../../../main/core/posture/parsers/linux/os-release.js';

// /etc/os-release of this VM, as read.
const DEBIAN_12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
`;

describe('endOfLife', () => {
  const debian = parseOsRelease(DEBIAN_12);

  it('moves Debian 12 from regular support to LTS to ended on the table’s dates', () => {
    expect(endOfLife(debian, new Date('2026-06-10T12:00:00Z'))).toMatchObject({ state: 'supported', phase: 'regular' });
    expect(endOfLife(debian, new Date('2026-06-11T00:00:00Z'))).toMatchObject({ state: 'supported', phase: 'lts', until: '2028-06-30' });
    expect(endOfLife(debian, new Date('2028-07-01T00:00:00Z'))).toMatchObject({ state: 'ended', ended: '2028-06-30' });
  });

  it('says a paid extension is not a verdict for Ubuntu after standard support', () => {
    expect(endOfLife({ ID: 'ubuntu', VERSION_ID: '20.04' }, new Date('2026-01-01'))).toMatchObject({ state: 'subscription', until: '2030-04-30' });
    expect(endOfLife({ ID: 'ubuntu', VERSION_ID: '23.10' }, new Date('2026-01-01'))).toMatchObject({ state: 'ended' });
  });

  it('uses the RHEL major version and knows nothing it was not told', () => {
    expect(endOfLife({ ID: 'rhel', VERSION_ID: '9.4' }, new Date('2026-01-01'))).toMatchObject({ state: 'supported' });
    expect(endOfLife({ ID: 'arch' }, new Date())).toMatchObject({ state: 'unknown' });
    expect(endOfLife({ ID: 'debian' }, new Date())).toMatchObject({ state: 'unknown' });
    expect(endOfLife({ ID: 'fedora', VERSION_ID: '99' }, new Date())).toMatchObject({ state: 'unknown' });
  });

  it('has valid ISO dates with extended support after regular support', () => {
    for (const e of EOL_TABLE) {
      expect(Number.isNaN(Date.parse(e.securityEnd))).toBe(false);
      if (e.extendedEnd) expect(Date.parse(e.extendedEnd)).toBeGreaterThan(Date.parse(e.securityEnd));
    }
  });

  it('never throws for any os-release text and date', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.date({ noInvalidDate: true }), (text, now) => {
        expect(['supported', 'subscription', 'ended', 'unknown']).toContain(endOfLife(parseOsRelease(text), now).state);
      }),
    );
  });
});
