import { isExecError } from '../../exec/exec-error.js';
import type { ExecResult } from '../../exec/host.js';
import type { CheckContext, CheckOutcome } from '../check.js';
import { interpretBitLockerVolumes, interpretManageBde } from '../parsers/win32/bitlocker.js';
import { parseWindowsCertificates } from '../parsers/win32/certificates.js';
import { interpretMpComputerStatus } from '../parsers/win32/defender.js';
import { parseWindowsFacts } from '../parsers/win32/device-facts.js';
import { interpretNetFirewallProfiles, interpretNetshFirewall } from '../parsers/win32/firewall.js';
import { interpretHotfixes } from '../parsers/win32/hotfix.js';
import { interpretWindowsVersion } from '../parsers/win32/os-version.js';
import { parseWindowsProcesses } from '../parsers/win32/processes.js';
import { interpretWindowsScreenLock } from '../parsers/win32/screen-lock.js';
import { interpretConfirmSecureBoot } from '../parsers/win32/secure-boot.js';
import { parseScQuery } from '../parsers/win32/service-query.js';
import { interpretSshdService } from '../parsers/win32/sshd-service.js';
import { interpretUpdatePolicy } from '../parsers/win32/update-policy.js';
import type { DeviceFacts } from '../snapshot.js';
import { allOutput, edrVerdict, guarded, outcomeFromFailure, runProbe, type AgentReport } from './probe-helpers.js';
import type { CertificateInfo, PostureProbes, ProcessInfo } from './probes.js';

/**
 * The fixed PowerShell scripts the Windows probes run (never built from input). Each selects the
 * few properties it needs, turns enums into their names, and prints JSON.
 */
export const WIN32_SCRIPTS = {
  osVersion: 'Get-CimInstance -ClassName Win32_OperatingSystem | Select-Object Caption, Version, BuildNumber, OSArchitecture | ConvertTo-Json',
  hotfixes: "Get-HotFix | Select-Object HotFixID, Description, @{n='InstalledOn';e={ if ($_.InstalledOn) { $_.InstalledOn.ToString('yyyy-MM-dd') } }} | ConvertTo-Json",
  bitlocker:
    "Get-BitLockerVolume -MountPoint $env:SystemDrive | Select-Object MountPoint, @{n='VolumeType';e={\"$($_.VolumeType)\"}}, @{n='VolumeStatus';e={\"$($_.VolumeStatus)\"}}, @{n='ProtectionStatus';e={\"$($_.ProtectionStatus)\"}}, EncryptionPercentage | ConvertTo-Json",
  firewall: "Get-NetFirewallProfile | Select-Object Name, @{n='Enabled';e={\"$($_.Enabled)\"}} | ConvertTo-Json",
  screenLock:
    "$d = Get-ItemProperty -Path 'HKCU:\\Control Panel\\Desktop' -ErrorAction SilentlyContinue; " +
    "$p = Get-ItemProperty -Path 'HKCU:\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop' -ErrorAction SilentlyContinue; " +
    "$s = Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System' -ErrorAction SilentlyContinue; " +
    '[pscustomobject]@{ InactivityTimeoutSecs = $s.InactivityTimeoutSecs; ScreenSaveActive = $d.ScreenSaveActive; ScreenSaverIsSecure = $d.ScreenSaverIsSecure; ' +
    'ScreenSaveTimeOut = $d.ScreenSaveTimeOut; PolicyScreenSaveActive = $p.ScreenSaveActive; PolicyScreenSaverIsSecure = $p.ScreenSaverIsSecure; ' +
    'PolicyScreenSaveTimeOut = $p.ScreenSaveTimeOut } | ConvertTo-Json',
  defender: 'Get-MpComputerStatus | Select-Object AMServiceEnabled, AntivirusEnabled, RealTimeProtectionEnabled, AntivirusSignatureAge, AMRunningMode | ConvertTo-Json',
  updatePolicy:
    "$au = Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU' -ErrorAction SilentlyContinue; " +
    "$ux = Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\WindowsUpdate\\UX\\Settings' -ErrorAction SilentlyContinue; " +
    '[pscustomobject]@{ NoAutoUpdate = $au.NoAutoUpdate; AUOptions = $au.AUOptions; PauseUpdatesExpiryTime = $ux.PauseUpdatesExpiryTime } | ConvertTo-Json',
  secureBoot: 'Confirm-SecureBootUEFI',
  sshd: "Get-Service -Name sshd -ErrorAction SilentlyContinue | Select-Object Name, @{n='Status';e={\"$($_.Status)\"}}, @{n='StartType';e={\"$($_.StartType)\"}} | ConvertTo-Json",
  processes: 'Get-Process | Select-Object Id, ProcessName, Path | ConvertTo-Json -Compress',
  certificates:
    "Get-ChildItem -Path Cert:\\LocalMachine\\My, Cert:\\LocalMachine\\Root, Cert:\\CurrentUser\\My | Select-Object Subject, Thumbprint, @{n='NotAfter';e={$_.NotAfter.ToUniversalTime().ToString('o')}}, @{n='Store';e={($_.PSParentPath -split '::')[-1]}} | ConvertTo-Json -Compress",
  facts:
    '$os = Get-CimInstance -ClassName Win32_OperatingSystem; $cs = Get-CimInstance -ClassName Win32_ComputerSystem; $bios = Get-CimInstance -ClassName Win32_BIOS; ' +
    '[pscustomobject]@{ Caption = $os.Caption; Version = $os.Version; BuildNumber = $os.BuildNumber; OSArchitecture = $os.OSArchitecture; CSName = $os.CSName; ' +
    'Manufacturer = $cs.Manufacturer; Model = $cs.Model; SerialNumber = $bios.SerialNumber } | ConvertTo-Json',
} as const;

export type Win32Script = keyof typeof WIN32_SCRIPTS;

/** The argument vector for a fixed script: no profile, no prompts. */
export const powershellArgs = (script: string): string[] => ['-NoProfile', '-NonInteractive', '-Command', script];

/** Other commands the Windows probes run. */
export const WIN32_COMMANDS = {
  manageBde: (drive: string) => ['manage-bde', ['-status', drive]] as const,
  netshFirewall: ['netsh', ['advfirewall', 'show', 'allprofiles', 'state']] as const,
  scQuery: (service: string) => ['sc', ['query', service]] as const,
};

/** EDR services and the product each belongs to. */
export const EDR_SERVICES = [
  { service: 'Sense', agent: 'Microsoft Defender for Endpoint' },
  { service: 'CSFalconService', agent: 'CrowdStrike Falcon' },
  { service: 'SentinelAgent', agent: 'SentinelOne' },
] as const;

/** What PowerShell answered: stdout, or the error record on stderr when stdout is empty. */
async function powershell(ctx: CheckContext, script: Win32Script): Promise<{ text: string; result: ExecResult }> {
  const result = await runProbe(ctx, ['powershell', powershellArgs(WIN32_SCRIPTS[script])]);
  return { text: result.stdout.trim() ? result.stdout : result.stderr, result };
}

/** How a script is named in a verdict when it cannot run. */
const SCRIPT_LABELS: Readonly<Record<Win32Script, string>> = {
  osVersion: 'Win32_OperatingSystem',
  hotfixes: 'Get-HotFix',
  bitlocker: 'Get-BitLockerVolume',
  firewall: 'Get-NetFirewallProfile',
  screenLock: 'the screen saver and inactivity registry values',
  defender: 'Get-MpComputerStatus',
  updatePolicy: 'the Windows Update policy registry values',
  secureBoot: 'Confirm-SecureBootUEFI',
  sshd: 'Get-Service sshd',
  processes: 'Get-Process',
  certificates: 'the Cert: drive',
  facts: 'the device facts script',
};

const scriptLabel = (script: Win32Script): string => `PowerShell (${SCRIPT_LABELS[script]})`;

/** Run a script and interpret its answer, naming the script when the run itself fails. */
const viaScript = (script: Win32Script, interpret: (text: string, ctx: CheckContext) => CheckOutcome) => (ctx: CheckContext) =>
  guarded(scriptLabel(script), async () => interpret((await powershell(ctx, script)).text, ctx));

const systemDrive = (ctx: CheckContext): string => ctx.host.env('SystemDrive') ?? 'C:';

async function edrService(ctx: CheckContext, service: string, agent: string): Promise<AgentReport> {
  const command = WIN32_COMMANDS.scQuery(service);
  try {
    const state = parseScQuery(allOutput(await runProbe(ctx, command)), service);
    if (!state.ok) return { agent, state: 'undetermined', detail: state.reason };
    if (!state.value.installed) return { agent, state: 'absent', detail: `${agent} (${service}) is not installed` };
    const running = state.value.state === 'RUNNING';
    return { agent, state: running ? 'healthy' : 'unhealthy', detail: `${agent} service ${service} is ${state.value.state?.toLowerCase() ?? 'in an unknown state'}` };
  } catch (err) {
    return { agent, state: 'undetermined', detail: outcomeFromFailure(err, `sc query ${service}`).reason };
  }
}

function archOf(osArchitecture: string | null): string {
  if (!osArchitecture) return 'unknown';
  if (/ARM/i.test(osArchitecture)) return 'arm64';
  if (/64/.test(osArchitecture)) return 'x64';
  if (/32/.test(osArchitecture)) return 'ia32';
  return osArchitecture;
}

export const win32Probes: PostureProbes = {
  osVersion: viaScript('osVersion', (text, ctx) => interpretWindowsVersion(text, ctx.now())),
  osUpdates: viaScript('hotfixes', (text, ctx) => interpretHotfixes(text, ctx.now())),

  diskEncryption: (ctx) =>
    guarded(scriptLabel('bitlocker'), async () => {
      const drive = systemDrive(ctx);
      const { text, result } = await powershell(ctx, 'bitlocker');
      if (result.stdout.trim()) return interpretBitLockerVolumes(text, drive);
      // The BitLocker module is missing on some editions: manage-bde answers there too.
      try {
        return interpretManageBde(allOutput(await runProbe(ctx, WIN32_COMMANDS.manageBde(drive))), drive);
      } catch (err) {
        return outcomeFromFailure(err, `Get-BitLockerVolume printed nothing (${text.trim().slice(0, 200) || 'no error either'}) and manage-bde -status ${drive}`);
      }
    }),

  firewall: (ctx) =>
    guarded(scriptLabel('firewall'), async () => {
      const { result } = await powershell(ctx, 'firewall');
      if (result.stdout.trim()) return interpretNetFirewallProfiles(result.stdout);
      return interpretNetshFirewall(allOutput(await runProbe(ctx, WIN32_COMMANDS.netshFirewall)));
    }),

  screenLock: viaScript('screenLock', (text, ctx) => interpretWindowsScreenLock(text, ctx.config.maxScreenLockDelaySeconds)),
  antivirus: viaScript('defender', (text) => interpretMpComputerStatus(text)),

  edr: async (ctx) => edrVerdict(await Promise.all(EDR_SERVICES.map((s) => edrService(ctx, s.service, s.agent)))),

  autoUpdate: viaScript('updatePolicy', (text, ctx) => interpretUpdatePolicy(text, ctx.now())),
  secureBoot: viaScript('secureBoot', (text) => interpretConfirmSecureBoot(text)),
  remoteLogin: viaScript('sshd', (text) => interpretSshdService(text)),

  async listProcesses(ctx): Promise<ProcessInfo[]> {
    const rows = parseWindowsProcesses((await powershell(ctx, 'processes')).text);
    if (!rows.ok) throw new Error(rows.reason);
    return rows.value;
  },

  async listCertificates(ctx): Promise<CertificateInfo[]> {
    const certs = parseWindowsCertificates((await powershell(ctx, 'certificates')).text);
    if (!certs.ok) throw new Error(certs.reason);
    return certs.value;
  },

  async deviceFacts(ctx): Promise<DeviceFacts> {
    const answer = await powershell(ctx, 'facts').catch((err: unknown) => {
      if (isExecError(err)) return undefined;
      throw err;
    });
    const parsedFacts = answer ? parseWindowsFacts(answer.text) : undefined;
    const f = parsedFacts?.ok ? parsedFacts.value : undefined;
    return {
      os: {
        platform: 'win32',
        name: f?.caption ?? 'Windows',
        version: f?.version ?? 'unknown',
        build: f?.build ?? null,
        kernel: f?.version ?? null,
        arch: archOf(f?.arch ?? null),
      },
      hostname: f?.hostname ?? 'unknown',
      hardware: { vendor: f?.vendor ?? null, model: f?.model ?? null, serial: f?.serial ?? null, uuid: null, virtual: f?.virtual ?? null },
      agentVersion: ctx.agentVersion,
    };
  },
};
