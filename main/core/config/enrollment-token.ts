import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';

const LedgerSchema = z.object({
  /** SHA-256 (hex) of each enrollment token already used; the token itself is never stored. */
  used: z.array(z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), usedAt: z.iso.datetime() })).max(1000),
});

function digest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/**
 * Remembers which managed enrollment tokens have been used, so a token left in /etc/ward or a
 * profile is used for the first enrollment only and ignored afterwards (re-enrolling needs a new
 * token from IT). Stores hashes only, in the agent's state directory.
 */
export class EnrollmentTokenLedger {
  constructor(
    private readonly file: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  private async read(): Promise<z.infer<typeof LedgerSchema>> {
    try {
      return LedgerSchema.parse(JSON.parse(await readFile(this.file, 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { used: [] };
      throw err;
    }
  }

  /** The token to enroll with, or undefined when there is none or it was used before. */
  async usable(token: string | undefined): Promise<string | undefined> {
    if (token === undefined) return undefined;
    const hash = digest(token);
    return (await this.read()).used.some((u) => u.sha256 === hash) ? undefined : token;
  }

  /** Record that `token` was used (call after a successful enrollment). */
  async markUsed(token: string): Promise<void> {
    const ledger = await this.read();
    const hash = digest(token);
    if (ledger.used.some((u) => u.sha256 === hash)) return;
    ledger.used.push({ sha256: hash, usedAt: this.now().toISOString() });
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(ledger, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
