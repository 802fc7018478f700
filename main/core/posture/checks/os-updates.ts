import type { PostureCheck } from '../check.js';

export const osUpdates: PostureCheck = {
  id: 'os-updates',
  title: 'Security updates installed',
  description: 'No pending security updates for the operating system.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'Debian/Ubuntu: `apt-get -s upgrade` (simulated, from the local package lists); Fedora/RHEL: `dnf check-update`',
    darwin: '`softwareupdate -l` (may contact Apple; cached)',
    win32: 'the Windows Update Agent (Microsoft.Update.Session search for IsInstalled=0) via PowerShell',
  },
  remediation: {
    linux: ['Run `sudo apt-get update && sudo apt-get upgrade` (or `sudo dnf upgrade`) and reboot if asked.'],
    darwin: ['Open System Settings → General → Software Update and install the listed updates.'],
    win32: ['Open Settings → Windows Update, select "Check for updates" and install what is offered.'],
  },
  // apt-get -s upgrade re-reads every package list: 5 s on an idle Debian 12 image, over 10 s on a busy 2-core one.
  timeoutMs: 30_000,
  collect: (ctx) => ctx.probes.osUpdates(ctx),
};
