import { parsed, type ParseResult } from '../parse-result.js';
import { field, parsePsObjects } from './powershell-output.js';

export interface WindowsFacts {
  readonly caption: string | null;
  readonly version: string | null;
  readonly build: string | null;
  readonly arch: string | null;
  readonly hostname: string | null;
  readonly vendor: string | null;
  readonly model: string | null;
  readonly serial: string | null;
  readonly virtual: boolean | null;
}

const VIRTUAL_MODELS = /^(Virtual Machine|VMware|VirtualBox|KVM|Standard PC \(|HVM domU)/i;

/** Ward's facts script (Win32_OperatingSystem, Win32_ComputerSystem, Win32_BIOS as JSON) or `Get-ComputerInfo` text. */
export function parseWindowsFacts(text: string): ParseResult<WindowsFacts> {
  const objects = parsePsObjects(text);
  if (!objects.ok) return objects;
  const o = objects.value[0] ?? {};
  const version = field(o, 'Version', 'OsVersion') ?? null;
  const model = field(o, 'Model', 'CsModel') ?? null;
  const serial = field(o, 'SerialNumber', 'BiosSeralNumber', 'BiosSerialNumber') ?? null;
  return parsed({
    caption: field(o, 'Caption', 'OsName', 'WindowsProductName') ?? null,
    version,
    build: field(o, 'BuildNumber', 'OsBuildNumber') ?? /^10\.0\.(\d+)/.exec(version ?? '')?.[1] ?? null,
    arch: field(o, 'OSArchitecture', 'OsArchitecture') ?? null,
    hostname: field(o, 'CSName', 'CsName', 'CsDNSHostName') ?? null,
    vendor: field(o, 'Manufacturer', 'CsManufacturer') ?? null,
    model,
    // OEMs that leave the serial blank print placeholders; those identify nothing.
    serial: serial && !/^(To be filled by O\.E\.M\.|Default string|System Serial Number|0+)$/i.test(serial) ? serial : null,
    virtual: model && VIRTUAL_MODELS.test(model) ? true : null,
  });
}
