import type { PostureCheck } from '../check.js';

export const antivirus: PostureCheck = {
  id: 'antivirus',
  title: 'Antivirus',
  description: 'Built-in or installed malware protection is running.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'ClamAV (`clamd`/`freshclam` processes and services), Microsoft Defender (`mdatp health`)',
    darwin: 'XProtect (its bundle version) and Gatekeeper (`spctl --status`)',
    win32: '`Get-MpComputerStatus` (real-time protection, signature age)',
  },
  remediation: {
    linux: ['Install and start ClamAV: `sudo apt-get install clamav-daemon clamav-freshclam && sudo systemctl enable --now clamav-daemon`, or install the AV your company provides.'],
    darwin: ['Turn Gatekeeper back on: `sudo spctl --global-enable`, and keep "Install Security Responses and system files" on in Software Update → Automatic Updates.'],
    win32: ['Open Windows Security → Virus & threat protection → Manage settings and turn on Real-time protection.'],
  },
  collect: (ctx) => ctx.probes.antivirus(ctx),
};
