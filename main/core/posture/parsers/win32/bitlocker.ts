import { outcome, type CheckOutcome } from '../../check.js';
import { linesOf } from '../parse-result.js';
import { field, parsePsObjects, type PsObject } from './powershell-output.js';

function verdict(observed: { volume: string; volumeStatus: string; protectionOn: boolean | null; percent: number | null }): CheckOutcome {
  const { volume, volumeStatus } = observed;
  const encrypted = /^(FullyEncrypted|Fully Encrypted|Used Space Only Encrypted|UsedSpaceOnlyEncrypted)$/i.test(volumeStatus);
  if (encrypted && observed.protectionOn === true) return outcome.pass(`BitLocker protects ${volume} (${volumeStatus})`, observed);
  if (encrypted && observed.protectionOn === false) {
    return outcome.fail(`${volume} is encrypted but BitLocker protection is off, so its key is stored in the clear`, observed);
  }
  if (encrypted) return outcome.unknown(`${volume} is encrypted but its protection status was not reported`, observed);
  if (/Decrypted/i.test(volumeStatus)) return outcome.fail(`${volume} is not encrypted`, observed);
  if (/InProgress|in Progress|Paused/i.test(volumeStatus)) {
    return outcome.fail(`${volume} is not fully encrypted yet (${volumeStatus}${observed.percent === null ? '' : `, ${observed.percent}%`})`, observed);
  }
  return outcome.error(`unrecognised BitLocker volume status "${volumeStatus}" for ${volume}`, observed);
}

const percentOf = (s: string | undefined): number | null => {
  const m = /(\d+(?:[.,]\d+)?)/.exec(s ?? '');
  return m?.[1] ? Number(m[1].replace(',', '.')) : null;
};

/** `Get-BitLockerVolume` (JSON, list or table): the operating-system volume, or `systemDrive`. */
export function interpretBitLockerVolumes(text: string, systemDrive: string): CheckOutcome {
  const objects = parsePsObjects(text);
  if (!objects.ok) return { status: objects.status, reason: objects.reason, observed: {} };
  const mount = (o: PsObject): string => (field(o, 'MountPoint') ?? '').toUpperCase();
  const os = objects.value.find((o) => /OperatingSystem/i.test(field(o, 'VolumeType') ?? '')) ?? objects.value.find((o) => mount(o) === systemDrive.toUpperCase());
  if (!os) return outcome.unknown(`Get-BitLockerVolume did not list the system drive ${systemDrive}`, { volumes: objects.value.length });
  const status = field(os, 'VolumeStatus');
  if (!status) return outcome.error('Get-BitLockerVolume printed no VolumeStatus for the system drive', {});
  const protection = field(os, 'ProtectionStatus');
  return verdict({
    volume: mount(os) || systemDrive,
    volumeStatus: status,
    protectionOn: protection === undefined ? null : /^(On|1)$/i.test(protection) ? true : /^(Off|0)$/i.test(protection) ? false : null,
    percent: percentOf(field(os, 'EncryptionPercentage')),
  });
}

/** `manage-bde -status X:`: the `Conversion Status`, `Protection Status` and `Percentage Encrypted` lines. */
export function interpretManageBde(text: string, systemDrive: string): CheckOutcome {
  const value = (key: string): string | undefined => {
    for (const line of linesOf(text)) {
      const m = new RegExp(`^\\s*${key}:\\s+(.+)$`).exec(line);
      if (m?.[1]) return m[1].replace(/`$/, '').trim();
    }
    return undefined;
  };
  const conversion = value('Conversion Status');
  if (!conversion) return outcome.error(`could not read the manage-bde -status output: "${text.trim().slice(0, 300)}"`, {});
  const protection = value('Protection Status');
  return verdict({
    volume: systemDrive,
    volumeStatus: conversion,
    protectionOn: protection === undefined ? null : /Protection On/i.test(protection) ? true : /Protection Off/i.test(protection) ? false : null,
    percent: percentOf(value('Percentage Encrypted')),
  });
}
