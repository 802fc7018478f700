import { join } from 'node:path';
import { configTargets, type WatchTarget, type WatchTargetContext } from '../watch-target.js';

/**
 * What the Linux checks read, as inotify-watchable places. procfs and sysfs do not emit inotify
 * events, so process lists and secure boot are left to the periodic full re-check.
 */
export function linuxWatchTargets(ctx: WatchTargetContext): WatchTarget[] {
  const targets: WatchTarget[] = [
    { path: '/etc/ufw', kind: 'dir', checks: ['firewall'] },
    { path: '/etc/ufw/ufw.conf', kind: 'file', checks: ['firewall'] },
    { path: '/etc/nftables.conf', kind: 'file', checks: ['firewall'] },
    { path: '/etc/firewalld', kind: 'dir', checks: ['firewall'] },
    { path: '/etc/apt/apt.conf.d', kind: 'dir', checks: ['auto-update', 'os-updates'] },
    { path: '/var/lib/dpkg/status', kind: 'file', checks: ['os-updates', 'os-version', 'antivirus', 'edr', 'auto-update', 'remote-login'] },
    { path: '/var/lib/apt/periodic', kind: 'dir', checks: ['os-updates'] },
    // `apt update` replaces the package lists: new updates may be pending.
    { path: '/var/lib/apt/lists', kind: 'dir', checks: ['os-updates'] },
    { path: '/etc/os-release', kind: 'file', checks: ['os-version'] },
    { path: '/etc/crypttab', kind: 'file', checks: ['disk-encryption'] },
    { path: '/etc/ssh/sshd_config', kind: 'file', checks: ['remote-login'] },
    { path: '/etc/ssh/sshd_config.d', kind: 'dir', checks: ['remote-login'] },
    { path: '/etc/systemd/system/multi-user.target.wants', kind: 'dir', checks: ['remote-login', 'firewall', 'antivirus', 'edr'] },
    { path: '/etc/ssl/certs', kind: 'dir', checks: ['certificates'] },
    { path: '/etc/dconf/db', kind: 'dir', checks: ['screen-lock'] },
  ];
  if (ctx.home) {
    targets.push(
      // GNOME settings (screen lock, idle delay) live in the user's dconf database.
      { path: join(ctx.home, '.config/dconf/user'), kind: 'file', checks: ['screen-lock'] },
      { path: join(ctx.home, '.config/kscreenlockerrc'), kind: 'file', checks: ['screen-lock'] },
    );
  }
  return [...targets, ...configTargets(ctx.config)];
}
