import { describe, expect, it } from 'vitest';
import { chainTo, encryptedLayers, parseLsblkJson } from '../../../../../main/core/posture/parsers/linux/lsblk.js';
import { mountFor, parseMountInfo } from '../../../../../main/core/posture/parsers/linux/mountinfo.js';
import { ParseError } from '../../../../../main/core/posture/parsers/linux/parse-error.js';
import { fixture, neverThrowsUntyped } from './fixture.js';

describe('parseMountInfo / mountFor', () => {
  const text = fixture('mountinfo--ext4-root-ward-vm.txt');
  it('finds / on /dev/vda and /home on / (real capture)', () => {
    const mounts = parseMountInfo(text);
    const root = mountFor(mounts, '/');
    expect(root).toEqual({ mountPoint: '/', device: '254:0', fsType: 'ext4', source: '/dev/vda' });
    expect(mountFor(mounts, '/home')).toBe(root);
    expect(mountFor(mounts, '/sys/fs/cgroup/cpu/x')?.fsType).toBe('cgroup');
  });
  it('decodes octal escapes in mount points', () => {
    const [m] = parseMountInfo('30 1 8:1 / /mnt/my\\040disk rw - ext4 /dev/sda1 rw');
    expect(m?.mountPoint).toBe('/mnt/my disk');
  });
  it('never throws', () => neverThrowsUntyped(text, (s) => mountFor(parseMountInfo(s), '/home')));
});

describe('parseLsblkJson', () => {
  const json = fixture('lsblk-J--vda-no-crypt-ward-vm.json');
  it('finds the disk mounted at / and no crypt layer under it (real capture)', () => {
    const devices = parseLsblkJson(json);
    const chain = chainTo(devices, (d) => d.majMin === '254:0');
    expect(chain?.map((d) => d.name)).toEqual(['vda']);
    expect(chain?.[0]?.mountpoints).toEqual(['/']);
    expect(encryptedLayers(chain ?? [])).toEqual([]);
  });

  it('walks a disk → LUKS partition → crypt → LVM tree to the mounted volume', () => {
    // CONSTRUCTED, not captured: this VM has no device-mapper, and the public capture of a LUKS
    // root (lsblk--crypt-no-lvm-armbian-bookworm.txt in /work/shared) is lsblk's text form. The
    // layout is Ubuntu's "encrypt the installation" default, in util-linux's JSON field names.
    const tree = JSON.stringify({
      blockdevices: [
        {
          name: 'nvme0n1', kname: 'nvme0n1', 'maj:min': '259:0', type: 'disk', fstype: null, mountpoint: null,
          children: [
            { name: 'nvme0n1p1', kname: 'nvme0n1p1', 'maj:min': '259:1', type: 'part', fstype: 'vfat', mountpoint: '/boot/efi' },
            {
              name: 'nvme0n1p3', kname: 'nvme0n1p3', 'maj:min': '259:3', type: 'part', fstype: 'crypto_LUKS', mountpoint: null,
              children: [
                {
                  name: 'dm_crypt-0', kname: 'dm-0', 'maj:min': '252:0', type: 'crypt', fstype: 'LVM2_member', mountpoint: null,
                  children: [{ name: 'ubuntu--vg-ubuntu--lv', kname: 'dm-1', 'maj:min': '252:1', type: 'lvm', fstype: 'ext4', mountpoint: '/' }],
                },
              ],
            },
          ],
        },
      ],
    });
    const chain = chainTo(parseLsblkJson(tree), (d) => d.mountpoints.includes('/')) ?? [];
    expect(chain.map((d) => d.type)).toEqual(['disk', 'part', 'crypt', 'lvm']);
    expect(encryptedLayers(chain).map((d) => d.name)).toEqual(['nvme0n1p3', 'dm_crypt-0']);
  });

  it('reads util-linux ≥ 2.37 `mountpoints` arrays', () => {
    const [d] = parseLsblkJson('{"blockdevices":[{"name":"sda1","type":"part","mountpoints":["/","/home",null]}]}');
    expect(d?.mountpoints).toEqual(['/', '/home']);
  });

  it('rejects output that is not lsblk JSON', () => {
    expect(() => parseLsblkJson('lsblk: unknown column: MOUNTPOINTS')).toThrow(ParseError);
    expect(() => parseLsblkJson('{"devices":[]}')).toThrow(ParseError);
  });

  it('never throws anything but ParseError', () => neverThrowsUntyped(json, parseLsblkJson));
});
