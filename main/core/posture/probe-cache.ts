import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../identity/atomic-file.js';
import { defaultStateDir } from '../identity/state-dir.js';
import type { Platform } from '../platform.js';

/**
 * Answers of slow probe commands (`apt-get -s upgrade`: 5 s and more), kept per fingerprint of
 * the files the command reads, so a later snapshot with unchanged inputs reuses them.
 *
 * One mechanism for both lifetimes: always in memory, and — when given a file — also in a JSON
 * file in Ward's state directory, so every `ward posture` (a new process each time) benefits.
 * The file is written atomically (temp, fsync, rename, mode 0600) and validated on read; a file
 * that is damaged, too large or of another version is ignored and rewritten on the next answer.
 * Answers older than `maxAgeMs` are never reused, whatever the fingerprint says.
 */

/** What a probe keeps: named strings (the command's raw output), re-parsed when reused. */
export type ProbeAnswerValue = Readonly<Record<string, string>>;

export interface ProbeAnswer {
  readonly value: ProbeAnswerValue;
  /** When the command answered (ISO 8601). */
  readonly at: string;
  /** Where the reused answer came from: this process, or the cache file of an earlier one. */
  readonly from: 'memory' | 'file';
}

export const PROBE_CACHE_FILE_NAME = 'probe-cache.json';
export const PROBE_CACHE_MAX_AGE_MS = 6 * 60 * 60 * 1000;
const MAX_ENTRIES = 8;
const MAX_VALUE_CHARS = 512 * 1024;
const MAX_FILE_BYTES = 2 * 1024 * 1024;

const EntrySchema = z.object({
  name: z.string().min(1).max(100),
  fingerprint: z.string().max(64 * 1024),
  at: z.iso.datetime(),
  value: z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9]{0,39}$/), z.string().max(MAX_VALUE_CHARS)),
});
type Entry = z.infer<typeof EntrySchema>;

export const ProbeCacheFileSchema = z.object({
  version: z.literal(1),
  entries: z.array(EntrySchema).max(MAX_ENTRIES),
});
export type ProbeCacheFile = z.infer<typeof ProbeCacheFileSchema>;

/** Parse the cache file's text; anything not exactly a valid cache (truncated, edited, another version) is `undefined`. */
export function parseProbeCacheFile(text: string): ProbeCacheFile | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = ProbeCacheFileSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/** `<state dir>/probe-cache.json`, the state dir being `WARD_STATE_DIR` or the platform default. */
export function defaultProbeCacheFile(platform: Platform, env: (name: string) => string | undefined): string {
  return join(defaultStateDir(platform, env), PROBE_CACHE_FILE_NAME);
}

export interface ProbeMemoOptions {
  /** Also keep answers in this file, across processes. Without it, answers live in memory only. */
  readonly file?: string;
  readonly maxAgeMs?: number;
  readonly now?: () => number;
}

export class ProbeMemo {
  readonly file: string | undefined;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  /** Newest last; at most MAX_ENTRIES. */
  #entries: Entry[] = [];
  /** The entries that came from the file (so a reuse can say so). */
  #fileEntries = new Set<Entry>();
  #loaded: Promise<void> | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: ProbeMemoOptions = {}) {
    this.file = options.file;
    this.#maxAgeMs = options.maxAgeMs ?? PROBE_CACHE_MAX_AGE_MS;
    this.#now = options.now ?? Date.now;
  }

  /** A kept answer for `name` whose inputs had exactly `fingerprint`, if it is recent enough. */
  async get(name: string, fingerprint: string): Promise<ProbeAnswer | undefined> {
    const fromFile = await this.#load();
    const entry = this.#entries.find((e) => e.name === name && e.fingerprint === fingerprint);
    if (!entry || !this.#fresh(entry)) return undefined;
    return { value: entry.value, at: entry.at, from: fromFile.has(entry) ? 'file' : 'memory' };
  }

  /** Keep an answer; with a file, it is written before this resolves (errors writing it are ignored: the cache is an optimisation). */
  async set(name: string, fingerprint: string, value: ProbeAnswerValue, at: string): Promise<void> {
    await this.#load();
    const entry: Entry = { name, fingerprint, at, value: { ...value } };
    if (!EntrySchema.safeParse(entry).success) return; // too large to keep: ask again next time
    const others = this.#entries.filter((e) => e.name !== name && this.#fresh(e));
    this.#entries = [...others, entry].slice(-MAX_ENTRIES);
    if (!this.file) return;
    const text = `${JSON.stringify({ version: 1, entries: this.#entries } satisfies ProbeCacheFile)}\n`;
    const file = this.file;
    this.#writing = this.#writing.then(() => writeFileAtomic(file, text)).catch(() => undefined);
    await this.#writing;
  }

  /** Forget every answer, in memory only (the file is rewritten on the next `set`). */
  clear(): void {
    this.#entries = [];
    this.#fileEntries = new Set();
  }

  #fresh(entry: Entry): boolean {
    const age = this.#now() - Date.parse(entry.at);
    return age >= 0 && age <= this.#maxAgeMs;
  }

  async #load(): Promise<ReadonlySet<Entry>> {
    this.#loaded ??= this.#readFile().then((entries) => {
      this.#fileEntries = new Set(entries);
      this.#entries = [...entries, ...this.#entries].slice(-MAX_ENTRIES);
    });
    await this.#loaded;
    return this.#fileEntries;
  }

  async #readFile(): Promise<Entry[]> {
    if (!this.file) return [];
    try {
      const handle = await open(this.file, 'r');
      try {
        if ((await handle.stat()).size > MAX_FILE_BYTES) return [];
        return parseProbeCacheFile(await handle.readFile('utf8'))?.entries ?? [];
      } finally {
        await handle.close();
      }
    } catch {
      return []; // missing or unreadable: start empty
    }
  }
}

/**
 * The agent's own memo (memory only), used by live snapshots that are not given one. Replay and
 * capture never use a memo: the engine leaves it out for them.
 */
export const processProbeMemo = new ProbeMemo();
