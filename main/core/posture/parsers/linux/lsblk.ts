import { z } from 'zod';
import { ParseError } from './parse-error.js';

export interface BlockDevice {
  readonly name: string;
  readonly kname: string | null;
  readonly majMin: string | null;
  readonly type: string;
  readonly fstype: string | null;
  readonly mountpoints: readonly string[];
  readonly children: readonly BlockDevice[];
}

interface RawNode {
  name: string;
  kname?: string | null | undefined;
  'maj:min'?: string | null | undefined;
  type?: string | null | undefined;
  fstype?: string | null | undefined;
  mountpoint?: string | null | undefined;
  mountpoints?: (string | null)[] | null | undefined;
  children?: RawNode[] | null | undefined;
}

const RawNodeSchema: z.ZodType<RawNode> = z.lazy(() =>
  z.object({
    name: z.string(),
    kname: z.string().nullish(),
    'maj:min': z.string().nullish(),
    type: z.string().nullish(),
    fstype: z.string().nullish(),
    mountpoint: z.string().nullish(),
    mountpoints: z.array(z.string().nullable()).nullish(),
    children: z.array(RawNodeSchema).nullish(),
  }),
);
const LsblkSchema = z.object({ blockdevices: z.array(RawNodeSchema) });

function convert(node: RawNode, depth: number): BlockDevice {
  if (depth > 32) throw new Error('lsblk tree deeper than 32 levels');
  const mounts = [...(node.mountpoints ?? []), node.mountpoint ?? null].filter((m): m is string => typeof m === 'string');
  return {
    name: node.name,
    kname: node.kname ?? null,
    majMin: node['maj:min'] ?? null,
    type: node.type ?? 'unknown',
    fstype: node.fstype ?? null,
    mountpoints: [...new Set(mounts)],
    children: (node.children ?? []).map((c) => convert(c, depth + 1)),
  };
}

/** Parse `lsblk -J` (util-linux ≥ 2.27; `mountpoint` or, since 2.37, `mountpoints`). Throws `ParseError`. */
export function parseLsblkJson(output: string): BlockDevice[] {
  let raw: unknown;
  try {
    raw = JSON.parse(output);
  } catch {
    throw new ParseError('the output of lsblk -J (not JSON)', output);
  }
  const parsed = LsblkSchema.safeParse(raw);
  if (!parsed.success) throw new ParseError('the output of lsblk -J (unexpected shape)', output);
  try {
    return parsed.data.blockdevices.map((n) => convert(n, 0));
  } catch {
    throw new ParseError('the output of lsblk -J (tree too deep)', output);
  }
}

/**
 * The chain from a top-level disk down to the device that matches, or undefined. lsblk prints
 * each device under the one it is built on (disk → part → crypt → lvm), so a crypt device above
 * the mounted one is in this chain.
 */
export function chainTo(devices: readonly BlockDevice[], match: (d: BlockDevice) => boolean): BlockDevice[] | undefined {
  for (const d of devices) {
    if (match(d)) return [d];
    const below = chainTo(d.children, match);
    if (below) return [d, ...below];
  }
  return undefined;
}

/** Does this chain pass through dm-crypt (a `crypt` device, or a LUKS container)? */
export function encryptedLayers(chain: readonly BlockDevice[]): BlockDevice[] {
  return chain.filter((d) => d.type === 'crypt' || d.fstype === 'crypto_LUKS');
}
