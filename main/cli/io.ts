import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParsedResults<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/** Where a command writes. Tests pass their own; the CLI passes the process's streams. */
export interface CliIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Is stdout a terminal (colours, tables) or a pipe (plain)? */
  readonly isTTY: boolean;
  readonly env: NodeJS.ProcessEnv;
  /** Ask the user a question (for confirmations); undefined when there is no terminal. */
  readonly prompt?: (question: string) => Promise<string>;
}

export type CommandRunner = (args: string[], io: CliIO) => Promise<number>;

/** Exit codes shared by every command (documented in the README). */
export const EXIT = {
  ok: 0,
  /** The command ran and found a problem (a failing check, a non-compliant device). */
  problem: 1,
  /** The command line was wrong. */
  usage: 2,
  /** Something failed that the user or IT must look at (bad bundle, unreachable broker, locked keyring). */
  failure: 3,
} as const;

export function processIO(): CliIO {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTTY: process.stdout.isTTY === true,
    env: process.env,
    ...(process.stdin.isTTY
      ? {
          prompt: async (question: string) => {
            const { createInterface } = await import('node:readline/promises');
            const rl = createInterface({ input: process.stdin, output: process.stderr });
            try {
              return await rl.question(question);
            } finally {
              rl.close();
            }
          },
        }
      : {}),
  };
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type WithHelp<O extends OptionsConfig> = O & { help: { type: 'boolean'; short: 'h' } };
export type ParsedCommand<O extends OptionsConfig> = ParsedResults<{
  args: string[];
  options: WithHelp<O>;
  strict: true;
  allowPositionals: true;
}>;

/**
 * Parse a command's options the same way for every command: `--help`/`-h` prints `help` and ends
 * with 0; an unknown or malformed option prints the problem and `help` and ends with 2 (usage).
 * Returns the typed values (and positionals, when `allowPositionals`), or the exit code to end with.
 */
export function parseCommandArgs<const O extends OptionsConfig>(
  args: string[],
  io: CliIO,
  options: O,
  help: string,
  settings: { allowPositionals?: boolean; allowNegative?: boolean; command?: string } = {},
): Pick<ParsedCommand<O>, 'values' | 'positionals'> | { exit: number } {
  let parsed: ParsedCommand<O>;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: settings.allowPositionals ?? false,
      allowNegative: settings.allowNegative ?? false,
    }) as unknown as ParsedCommand<O>;
  } catch (err) {
    const prefix = settings.command ? `ward ${settings.command}: ` : '';
    io.stderr(`${prefix}${err instanceof Error ? err.message : String(err)}\n\n${help}`);
    return { exit: EXIT.usage };
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout(help);
    return { exit: EXIT.ok };
  }
  return { values: parsed.values, positionals: parsed.positionals };
}
