export interface MountEntry {
  readonly mountPoint: string;
  /** `major:minor` of the filesystem's device (btrfs and overlay report an anonymous 0:N). */
  readonly device: string;
  readonly fsType: string;
  readonly source: string;
}

// Octal escapes in mountinfo fields: \040 is a space, \011 a tab, \012 a newline, \134 a backslash.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/**
 * Parse /proc/PID/mountinfo (proc(5)): `id parent major:minor root mountpoint options [optional…]
 * - fstype source superoptions`. Lines that do not have that shape are skipped.
 */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields.length < dash + 3) continue;
    const device = fields[2] ?? '';
    if (!/^\d+:\d+$/.test(device)) continue;
    out.push({
      mountPoint: unescape(fields[4] ?? ''),
      device,
      fsType: fields[dash + 1] ?? '',
      source: unescape(fields[dash + 2] ?? ''),
    });
  }
  return out;
}

/** The mount that holds `path`: the longest mount point that is a prefix of it; the last one mounted wins. */
export function mountFor(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const m of mounts) {
    const mp = m.mountPoint;
    const contains = mp === '/' || path === mp || path.startsWith(`${mp}/`);
    if (contains && (!best || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** Filesystems whose backing disk is invisible from here: container roots, network and memory filesystems. */
export const OPAQUE_FILESYSTEMS: ReadonlySet<string> = new Set([
  'overlay', 'aufs', 'fuse.fuse-overlayfs', 'tmpfs', 'ramfs', 'rootfs', 'nfs', 'nfs4', 'cifs', 'smb3', '9p', 'virtiofs',
  'fuse.sshfs', 'shiftfs', 'zfs',
]);
