import type { PostureCheck } from '../check.js';

export const screenLock: PostureCheck = {
  id: 'screen-lock',
  title: 'Screen lock',
  description: 'The screen locks automatically after a short idle time.',
  platforms: ['linux', 'darwin', 'win32'],
  reads: {
    linux: 'GNOME: `gsettings get org.gnome.desktop.screensaver lock-enabled` and `org.gnome.desktop.session idle-delay`; KDE: kscreenlockerrc (Autolock, Timeout)',
    darwin: '`sysadminctl -screenLock status` and the idle time of the screensaver',
    win32: 'the screen-saver and inactivity-lock policy (registry `InactivityTimeoutSecs`, `ScreenSaverIsSecure`) and `powercfg`',
  },
  remediation: {
    linux: [
      'GNOME: Settings → Privacy → Screen Lock: turn on "Automatic Screen Lock" and set "Blank Screen Delay" to 15 minutes or less.',
      'KDE: System Settings → Screen Locking: "Lock screen automatically after" 15 minutes or less.',
    ],
    darwin: ['Open System Settings → Lock Screen and set "Require password after screen saver begins or display is turned off" to "Immediately".'],
    win32: ['Open Settings → Accounts → Sign-in options and set "If you\'ve been away, when should Windows require you to sign in again?" to "When PC wakes up from sleep"; set a screen timeout of 15 minutes or less.'],
  },
  collect: (ctx) => ctx.probes.screenLock(ctx),
};
