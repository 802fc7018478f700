import type { PostureCheck } from '../check.js';

export const remoteLogin: PostureCheck = {
  id: 'remote-login',
  title: 'Remote login closed',
  description: 'No SSH server (or Remote Login) accepts connections from the network.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'listening TCP sockets (/proc/net/tcp, /proc/net/tcp6) and the processes that own them (sshd)',
    darwin: '`systemsetup -getremotelogin` / `launchctl print system/com.openssh.sshd`',
    win32: '`Get-Service sshd` (OpenSSH Server)',
  },
  remediation: {
    linux: ['Stop the SSH server unless IT asked for it: `sudo systemctl disable --now ssh` (or `sshd`).'],
    darwin: ['Open System Settings → General → Sharing and turn off Remote Login.'],
    win32: ['Run `Stop-Service sshd; Set-Service sshd -StartupType Disabled` in an administrator PowerShell.'],
  },
  collect: (ctx) => ctx.probes.remoteLogin(ctx),
};
