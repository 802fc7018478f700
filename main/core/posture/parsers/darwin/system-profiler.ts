import { linesOf, parsed, unparsable, type ParseResult } from '../parse-result.js';

export interface MacHardwareFacts {
  readonly osName: string | null;
  readonly osVersion: string | null;
  readonly osBuild: string | null;
  readonly kernel: string | null;
  readonly computerName: string | null;
  readonly modelName: string | null;
  readonly modelIdentifier: string | null;
  readonly chip: string | null;
  readonly serial: string | null;
  readonly hardwareUuid: string | null;
  readonly arch: string | null;
  readonly virtual: boolean | null;
}

/**
 * `system_profiler SPSoftwareDataType SPHardwareDataType`: indented `Key: Value` lines. Log noise on
 * stderr (older releases) and redacted values ("-----") are tolerated; a redacted value is null.
 */
export function parseSystemProfiler(text: string): ParseResult<MacHardwareFacts> {
  const fields = new Map<string, string>();
  for (const line of linesOf(text)) {
    const m = /^\s{4,}([A-Z][A-Za-z0-9 ()/-]*?):\s+(\S.*)$/.exec(line);
    if (m?.[1] && m[2] && !fields.has(m[1])) fields.set(m[1], m[2].trim());
  }
  if (fields.size === 0) return unparsable('the system_profiler output', text);
  const get = (key: string): string | null => {
    const v = fields.get(key);
    return v && !/^-+$/.test(v) ? v : null;
  };
  const system = /^(macOS|Mac OS X|OS X)\s+(\d+(?:\.\d+)*)\s*(?:\((\w+)\))?/.exec(get('System Version') ?? '');
  const chip = get('Chip');
  const processor = get('Processor Name');
  const model = get('Model Identifier');
  const arch = chip?.startsWith('Apple') ? 'arm64' : processor && /Intel/i.test(processor) ? 'x86_64' : null;
  return parsed({
    osName: system?.[1] ?? null,
    osVersion: system?.[2] ?? null,
    osBuild: system?.[3] ?? null,
    kernel: get('Kernel Version'),
    computerName: get('Computer Name'),
    modelName: get('Model Name'),
    modelIdentifier: model,
    chip: chip ?? processor,
    serial: get('Serial Number (system)'),
    hardwareUuid: get('Hardware UUID'),
    arch,
    // Apple's own virtualization reports VirtualMac*; other hypervisors name themselves. Anything else: not known.
    virtual: model && /^(VirtualMac|VMware|Parallels)/.test(model) ? true : null,
  });
}
