import type { PostureCheck } from '../check.js';

export const autoUpdate: PostureCheck = {
  id: 'auto-update',
  title: 'Automatic updates',
  description: 'The OS installs security updates automatically.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'Debian/Ubuntu: `apt-config dump` (APT::Periodic::Unattended-Upgrade) and the unattended-upgrades package; Fedora: dnf-automatic timer',
    darwin: '`defaults read /Library/Preferences/com.apple.SoftwareUpdate` (AutomaticCheckEnabled, CriticalUpdateInstall)',
    win32: 'Windows Update policy (`HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU` NoAutoUpdate, AUOptions)',
  },
  remediation: {
    linux: ['Run `sudo apt-get install unattended-upgrades && sudo dpkg-reconfigure -plow unattended-upgrades` and answer Yes.'],
    darwin: ['Open System Settings → General → Software Update → Automatic Updates and turn on "Install Security Responses and system files".'],
    win32: ['Open Settings → Windows Update → Advanced options and make sure updates are not paused; ask IT if a policy turned them off.'],
  },
  collect: (ctx) => ctx.probes.autoUpdate(ctx),
};
