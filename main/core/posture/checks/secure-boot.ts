import type { PostureCheck } from '../check.js';

export const secureBoot: PostureCheck = {
  id: 'secure-boot',
  title: 'Secure Boot',
  description: 'The firmware only starts signed boot loaders (UEFI Secure Boot / Apple secure boot).',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'the SecureBoot EFI variable under /sys/firmware/efi/efivars, `mokutil --sb-state`',
    darwin: '`csrutil status` (System Integrity Protection) and the Mac\'s secure-boot policy',
    win32: '`Confirm-SecureBootUEFI`',
  },
  remediation: {
    linux: ['Restart into your firmware settings (usually F2, F10 or Del at power-on) and enable Secure Boot; ask IT first if you use custom kernel modules.'],
    darwin: ['Start up in macOS Recovery, open Terminal and run `csrutil enable`, then restart.'],
    win32: ['Restart into UEFI firmware settings (Settings → System → Recovery → Advanced startup) and enable Secure Boot.'],
  },
  collect: (ctx) => ctx.probes.secureBoot(ctx),
};
