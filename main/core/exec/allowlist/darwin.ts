/** Commands Ward may run on macOS, by name, with their absolute paths. */
export const darwinCommands: Readonly<Record<string, readonly string[]>> = {
  sw_vers: ['/usr/bin/sw_vers'],
  softwareupdate: ['/usr/sbin/softwareupdate'],
  fdesetup: ['/usr/bin/fdesetup'],
  socketfilterfw: ['/usr/libexec/ApplicationFirewall/socketfilterfw'],
  sysadminctl: ['/usr/sbin/sysadminctl'],
  systemsetup: ['/usr/sbin/systemsetup'],
  defaults: ['/usr/bin/defaults'],
  pmset: ['/usr/bin/pmset'],
  spctl: ['/usr/sbin/spctl'],
  csrutil: ['/usr/bin/csrutil'],
  profiles: ['/usr/bin/profiles'],
  security: ['/usr/bin/security'],
  system_profiler: ['/usr/sbin/system_profiler'],
  launchctl: ['/bin/launchctl'],
  ps: ['/bin/ps'],
  falconctl: ['/Applications/Falcon.app/Contents/Resources/falconctl'],
  sentinelctl: ['/usr/local/bin/sentinelctl', '/Library/Sentinel/sentinel-agent.bundle/Contents/MacOS/sentinelctl'],
  mdatp: ['/usr/local/bin/mdatp'],
  bputil: ['/usr/bin/bputil'],
  nvram: ['/usr/sbin/nvram'],
  /** Converts binary managed-preferences plists to XML (main/core/config). */
  plutil: ['/usr/bin/plutil'],
  /** `ward login`: opens the sign-in page in the default browser (main/core/session/browser-opener.ts). */
  open: ['/usr/bin/open'],
};
