/**
 * Commands Ward may run on Windows, by name, with their absolute paths. PowerShell is run with
 * `-NoProfile -NonInteractive -Command` and a fixed script from the probe, never user input.
 */
export const win32Commands: Readonly<Record<string, readonly string[]>> = {
  powershell: ['C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'],
  'manage-bde': ['C:\\Windows\\System32\\manage-bde.exe'],
  netsh: ['C:\\Windows\\System32\\netsh.exe'],
  sc: ['C:\\Windows\\System32\\sc.exe'],
  reg: ['C:\\Windows\\System32\\reg.exe'],
  powercfg: ['C:\\Windows\\System32\\powercfg.exe'],
  dsregcmd: ['C:\\Windows\\System32\\dsregcmd.exe'],
  tasklist: ['C:\\Windows\\System32\\tasklist.exe'],
  certutil: ['C:\\Windows\\System32\\certutil.exe'],
  sentinelctl: ['C:\\Program Files\\SentinelOne\\Sentinel Agent\\SentinelCtl.exe'],
  /**
   * `ward login`: `rundll32 url.dll,FileProtocolHandler URL` opens the sign-in page in the default
   * browser without cmd.exe (main/core/session/browser-opener.ts says why not `cmd /c start`).
   */
  rundll32: ['C:\\Windows\\System32\\rundll32.exe'],
};
