export const PLATFORMS = ['linux', 'darwin', 'win32'] as const;
export type Platform = (typeof PLATFORMS)[number];

export function isPlatform(value: string): value is Platform {
  return (PLATFORMS as readonly string[]).includes(value);
}

/** The platform Ward runs on, or `undefined` where Ward has no probes (FreeBSD, AIX, …). */
export function currentPlatform(): Platform | undefined {
  return isPlatform(process.platform) ? process.platform : undefined;
}
