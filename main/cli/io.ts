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
