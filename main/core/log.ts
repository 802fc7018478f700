import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Field names whose values are never written, wherever they appear in a log object. Tokens, keys
 * and secrets must not reach a log line, a crash report or an error message.
 */
export const REDACTED_FIELDS = [
  'token', 'accessToken', 'access_token', 'refreshToken', 'refresh_token', 'idToken', 'id_token',
  'secret', 'clientSecret', 'password', 'privateKey', 'private_key', 'd', 'authorization', 'Authorization',
  'dpop', 'DPoP', 'enrollmentToken', 'cookie',
];

/**
 * The agent's structured logger. Modules take a child (`log.child({ mod: 'posture' })`) through
 * their constructor; nothing logs through a global. Output is JSON lines on stderr by default.
 */
export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: options.level ?? process.env.WARD_LOG_LEVEL ?? 'info',
      base: { app: 'ward' },
      redact: { paths: REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`]), censor: '[redacted]' },
    },
    (options.destination ?? process.stderr) as pino.DestinationStream,
  );
}

/** A logger that writes nothing, for tests and one-shot CLI commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
