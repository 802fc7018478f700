import type { PostureCheck } from '../check.js';

export const osVersion: PostureCheck = {
  id: 'os-version',
  title: 'Operating system supported',
  description: 'The OS release still receives security updates from its vendor.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: '/etc/os-release, the kernel release; end-of-life dates from Ward\'s table of distributions',
    darwin: '`sw_vers`; end-of-support from Ward\'s table of macOS releases',
    win32: 'Win32_OperatingSystem (build, edition) via PowerShell; end-of-servicing from Ward\'s table',
  },
  remediation: {
    linux: ['Upgrade to a supported release of your distribution (for Debian: https://wiki.debian.org/DebianUpgrade).'],
    darwin: ['Open System Settings → General → Software Update and upgrade to a supported macOS release.'],
    win32: ['Open Settings → Windows Update and install the latest feature update for a supported Windows release.'],
  },
  collect: (ctx) => ctx.probes.osVersion(ctx),
};
