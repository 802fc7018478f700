import type { PostureCheck } from '../check.js';

export const firewall: PostureCheck = {
  id: 'firewall',
  title: 'Firewall',
  description: 'A host firewall is active and drops unsolicited inbound connections.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'ufw (`/etc/ufw/ufw.conf`, `ufw status`), firewalld (`firewall-cmd --state`), `nft list ruleset` (input hook policy), `iptables -S` (INPUT policy)',
    darwin: '`socketfilterfw --getglobalstate` (Application Firewall)',
    win32: '`Get-NetFirewallProfile` (Domain, Private, Public: Enabled and DefaultInboundAction)',
  },
  remediation: {
    linux: ['Turn on the firewall: `sudo ufw enable` (Ubuntu/Debian) or `sudo systemctl enable --now firewalld` (Fedora/RHEL).'],
    darwin: ['Open System Settings → Network → Firewall and turn it on.'],
    win32: ['Open Windows Security → Firewall & network protection and turn on the firewall for every network profile.'],
  },
  collect: (ctx) => ctx.probes.firewall(ctx),
};
