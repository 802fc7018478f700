import type { DeviceFacts } from '../../main/core/posture/snapshot.js';

/** Device facts for an enrollment request in tests (a Debian VM, as these machines are). */
export function sampleDeviceFacts(hostname: string): DeviceFacts {
  return {
    os: { platform: 'linux', name: 'Debian GNU/Linux', version: '12', build: null, kernel: '6.1.0', arch: 'x64' },
    hostname,
    hardware: { vendor: null, model: null, serial: null, uuid: null, virtual: true },
    agentVersion: '0.1.0',
  };
}
