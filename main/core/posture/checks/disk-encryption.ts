import type { PostureCheck } from '../check.js';

export const diskEncryption: PostureCheck = {
  id: 'disk-encryption',
  title: 'Disk encryption',
  description: 'The system volume (and /home where separate) is encrypted at rest.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: '`lsblk -J` device tree for the volumes mounted at / and /home (LUKS/dm-crypt ancestors), /etc/crypttab',
    darwin: '`fdesetup status` (FileVault)',
    win32: '`Get-BitLockerVolume` for the OS volume (protection status, encryption percentage)',
  },
  remediation: {
    linux: [
      'Disk encryption on Linux is set when the disk is partitioned: back up your data,',
      'reinstall with "Encrypt the new installation" (LUKS) selected, and restore your data. Ask IT for help first.',
    ],
    darwin: ['Open System Settings → Privacy & Security → FileVault and select "Turn On…".'],
    win32: ['Open Settings → Privacy & security → Device encryption (or Control Panel → BitLocker Drive Encryption) and turn it on for the C: drive.'],
  },
  collect: (ctx) => ctx.probes.diskEncryption(ctx),
};
