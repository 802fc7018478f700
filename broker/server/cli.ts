import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { EXIT, processIO, type CliIO } from '../../main/cli/io.js';
import { WardError } from '../../main/core/errors.js';
import { createLogger } from '../../main/core/log.js';
import { AdminClient } from './admin-client.js';
import { createBroker } from './broker.js';
import { loadConfigFile, UserSchema } from './config.js';
import { BrokerError } from './errors.js';
import { hashPassword } from './passwords.js';
import { newTotpSecret } from './totp.js';

const HELP = `ward-broker — Ward's reference access broker

Usage:
  ward-broker [serve] [--config FILE] [--data DIR] [--host H] [--port N]
  ward-broker token create [--label L] [--ttl SECONDS]     make a single-use enrollment token
  ward-broker token list
  ward-broker devices [--json]                             devices and their compliance
  ward-broker devices show ID                              a device's latest verified posture
  ward-broker challenge ID [--timeout SECONDS]             ask a device for a fresh report now
  ward-broker revoke device ID [--reason TEXT]             revoke a device (CAEP session-revoked)
  ward-broker revoke session USERNAME                      end a user's sessions and refresh tokens
  ward-broker policy set FILE | policy show
  ward-broker history [--device ID] [--failures] [--limit N]
  ward-broker credentials create --role admin|query [--label L]
  ward-broker push dead-letters [--json] [--limit N]       SETs the push receiver never took
  ward-broker push resend ID... | push resend --all        put dead letters back in the push queue, in order
  ward-broker push drop ID                                 delete a dead letter for good
  ward-broker users add USERNAME [--name N] [--email E] [--totp] [--password-stdin]
  ward-broker users list [--json]                          users and their sign-in lock state
  ward-broker users unlock USERNAME                        clear a user's failed sign-ins and lock

Common options:
  --data DIR   broker data folder (default $WARD_BROKER_DATA or ~/.local/share/ward-broker)
  --url URL    broker URL for admin commands (default: from DATA/broker.json)
  --config FILE  config file (default DATA/config.json, created on first serve)

Admin commands use the credential in $WARD_BROKER_ADMIN_TOKEN or DATA/admin-token.
`;

const OPTIONS = {
  config: { type: 'string' },
  data: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  url: { type: 'string' },
  label: { type: 'string' },
  ttl: { type: 'string' },
  json: { type: 'boolean' },
  reason: { type: 'string' },
  device: { type: 'string' },
  failures: { type: 'boolean' },
  limit: { type: 'string' },
  role: { type: 'string' },
  name: { type: 'string' },
  email: { type: 'string' },
  totp: { type: 'boolean' },
  'password-stdin': { type: 'boolean' },
  timeout: { type: 'string' },
  all: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends WardError<'usage'> {
  constructor(message: string) {
    super('usage', message);
  }
}

function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

function dataDir(values: Values, io: CliIO): string {
  return resolve(values.data ?? io.env.WARD_BROKER_DATA ?? join(io.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'ward-broker'));
}

function client(values: Values, io: CliIO): AdminClient {
  return AdminClient.locate({ dataDir: dataDir(values, io), url: values.url ?? io.env.WARD_BROKER_URL, token: io.env.WARD_BROKER_ADMIN_TOKEN });
}

const print = (io: CliIO, value: unknown): void => io.stdout(`${JSON.stringify(value, null, 2)}\n`);

async function serve(values: Values, io: CliIO): Promise<number> {
  const data = dataDir(values, io);
  mkdirSync(data, { recursive: true });
  const configFile = resolve(values.config ?? join(data, 'config.json'));
  if (!values.config && !existsSync(configFile)) {
    writeFileSync(configFile, `${JSON.stringify({ listen: { host: '127.0.0.1', port: 8443 }, users: [] }, null, 2)}\n`, { mode: 0o600 });
    io.stderr(`ward-broker: wrote a default config to ${configFile}\n`);
  }
  const config = loadConfigFile(configFile);
  const port = intOption(values.port, 'port', 0, 65535);
  // A benchmark diagnostic (docs/broker-server.md, "Performance"), never on by default.
  const stopLoopStats = io.env.WARD_BROKER_LOOP_STATS === '1' ? (await import('./loop-stats.js')).startLoopStats(io.stdout) : undefined;
  const broker = await createBroker({
    dataDir: data,
    config,
    configFile,
    ...(values.host ? { host: values.host } : {}),
    ...(port !== undefined ? { port } : {}),
    logger: createLogger({ destination: process.stderr }),
  });
  io.stdout(`ward-broker listening on ${broker.url}\n  data:   ${data}\n  config: ${configFile}\n`);
  if (broker.bootstrapAdminToken) io.stdout(`  first admin credential written to ${join(data, 'admin-token')} (keep it secret)\n`);
  if (config.users.length === 0) io.stdout('  no users yet: add one with `ward-broker users add NAME`\n');
  io.stdout(`  enroll a device:  ward-broker token create  →  ward enroll --broker ${broker.url} --token TOKEN\n`);
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await broker.close();
  stopLoopStats?.();
  return EXIT.ok;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function usersAdd(username: string | undefined, values: Values, io: CliIO): Promise<number> {
  if (!username) throw new UsageError('users add needs a USERNAME');
  const configFile = resolve(values.config ?? join(dataDir(values, io), 'config.json'));
  const raw = existsSync(configFile) ? (JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>) : { listen: { host: '127.0.0.1', port: 8443 } };
  loadConfigFileIfExists(configFile);
  let password: string;
  if (values['password-stdin']) password = await readStdin();
  else if (io.prompt) password = await io.prompt(`Password for ${username}: `);
  else throw new UsageError('no terminal to ask for the password: use --password-stdin');
  if (password.length < 8) throw new UsageError('the password must have at least 8 characters');
  const totpSecret = values.totp ? newTotpSecret() : undefined;
  const user = UserSchema.parse({
    username,
    passwordHash: await hashPassword(password),
    ...(values.name ? { name: values.name } : {}),
    ...(values.email ? { email: values.email } : {}),
    ...(totpSecret ? { totpSecret } : {}),
  });
  const users = (Array.isArray(raw.users) ? (raw.users as { username?: string }[]) : []).filter((u) => u.username !== username);
  writeFileSync(configFile, `${JSON.stringify({ ...raw, users: [...users, user] }, null, 2)}\n`, { mode: 0o600 });
  io.stdout(`user ${username} saved in ${configFile}\n`);
  if (totpSecret) io.stdout(`TOTP secret (add it to an authenticator app): ${totpSecret}\n  otpauth://totp/Ward:${encodeURIComponent(username)}?secret=${totpSecret}&issuer=Ward\n`);
  return EXIT.ok;
}

const UsersAnswer = z.object({
  users: z.array(
    z.object({
      username: z.string(),
      name: z.string().nullable(),
      totp: z.boolean(),
      signIn: z.object({ failures: z.number(), lockedUntil: z.string().nullable(), hardLocked: z.boolean() }),
    }),
  ),
});

async function usersList(values: Values, io: CliIO): Promise<number> {
  const answer = await client(values, io).request('GET', '/admin/users');
  if (values.json) {
    print(io, answer);
    return EXIT.ok;
  }
  const parsed = UsersAnswer.safeParse(answer);
  if (!parsed.success) throw new BrokerError('internal', 'The broker answered GET /admin/users with an unexpected shape.');
  io.stdout(`${'USERNAME'.padEnd(24)}${'NAME'.padEnd(24)}${'TOTP'.padEnd(6)}${'FAILURES'.padEnd(10)}SIGN-IN\n`);
  for (const u of parsed.data.users) {
    const state = u.signIn.hardLocked ? 'locked (ward-broker users unlock)' : u.signIn.lockedUntil ? `locked until ${u.signIn.lockedUntil}` : 'ok';
    io.stdout(`${u.username.padEnd(24)}${(u.name ?? '-').slice(0, 22).padEnd(24)}${(u.totp ? 'yes' : 'no').padEnd(6)}${String(u.signIn.failures).padEnd(10)}${state}\n`);
  }
  return EXIT.ok;
}

const DeadLettersAnswer = z.object({
  total: z.number(),
  deadLetters: z.array(z.object({ id: z.number(), type: z.string(), attempts: z.number(), lastStatus: z.number().nullable(), lastError: z.string(), deadAt: z.string() })),
});

function deadLetterId(text: string): number {
  if (!/^[1-9]\d{0,14}$/.test(text)) throw new UsageError(`"${text}" is not a dead letter id (see ward-broker push dead-letters)`);
  return Number(text);
}

/** `push dead-letters | resend ID...|--all | drop ID` (docs/broker-server.md, "Shared Signals delivery"). */
async function push(sub: string | undefined, args: string[], values: Values, io: CliIO): Promise<number> {
  if (sub === 'dead-letters') {
    const limit = intOption(values.limit, 'limit', 1, 10_000);
    const answer = await client(values, io).request('GET', `/admin/push/dead-letters${limit ? `?limit=${limit}` : ''}`);
    if (values.json) print(io, answer);
    else {
      const parsed = DeadLettersAnswer.safeParse(answer);
      if (!parsed.success) throw new BrokerError('internal', 'The broker answered GET /admin/push/dead-letters with an unexpected shape.');
      io.stdout(`${'ID'.padEnd(8)}${'TYPE'.padEnd(32)}${'ATTEMPTS'.padEnd(10)}${'STATUS'.padEnd(8)}${'DEAD SINCE'.padEnd(26)}LAST ERROR\n`);
      for (const d of parsed.data.deadLetters) {
        io.stdout(`${String(d.id).padEnd(8)}${d.type.padEnd(32)}${String(d.attempts).padEnd(10)}${String(d.lastStatus ?? '-').padEnd(8)}${d.deadAt.padEnd(26)}${d.lastError.slice(0, 80)}\n`);
      }
      io.stderr(`${parsed.data.deadLetters.length} of ${parsed.data.total} dead letters shown\n`);
    }
    return EXIT.ok;
  }
  if (sub === 'resend' && (values.all ? args.length === 0 : args.length > 0)) {
    print(io, await client(values, io).request('POST', '/admin/push/dead-letters/resend', values.all ? { all: true } : { ids: args.map(deadLetterId) }));
    return EXIT.ok;
  }
  if (sub === 'drop' && args.length === 1) {
    print(io, await client(values, io).request('DELETE', `/admin/push/dead-letters/${deadLetterId(args[0]!)}`));
    return EXIT.ok;
  }
  throw new UsageError('push dead-letters [--json] | push resend ID... | push resend --all | push drop ID');
}

function loadConfigFileIfExists(file: string): void {
  // Refuse to rewrite a config that is already invalid: the admin must fix it first.
  if (existsSync(file)) loadConfigFile(file);
}

async function run(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    io.stdout(HELP);
    return EXIT.ok;
  }
  const [command = 'serve', sub, arg, ...more] = positionals;
  switch (command) {
    case 'serve':
      return serve(values, io);
    case 'token':
      if (sub === 'create') {
        const ttlSeconds = intOption(values.ttl, 'ttl', 60, 30 * 86400);
        const created = (await client(values, io).request('POST', '/admin/enrollment-tokens', { ...(values.label ? { label: values.label } : {}), ...(ttlSeconds ? { ttlSeconds } : {}) })) as {
          token: string;
          expiresAt: string;
          id: string;
        };
        if (values.json) print(io, created);
        else {
          io.stdout(`${created.token}\n`);
          io.stderr(`single-use enrollment token ${created.id}, expires ${created.expiresAt}\n`);
        }
        return EXIT.ok;
      }
      if (sub === 'list') {
        print(io, await client(values, io).request('GET', '/admin/enrollment-tokens'));
        return EXIT.ok;
      }
      throw new UsageError('token create | token list');
    case 'devices': {
      const c = client(values, io);
      if (sub === 'show') {
        if (!arg) throw new UsageError('devices show ID');
        print(io, await c.request('GET', `/devices/${encodeURIComponent(arg)}`));
        return EXIT.ok;
      }
      const { devices } = (await c.request('GET', '/devices')) as {
        devices: { deviceId: string; name: string | null; assurance: string; keyAttestation: string; revokedAt: string | null; connected: boolean; posture: { decision: string; ageSeconds: number } | null }[];
      };
      if (values.json) print(io, { devices });
      else {
        // ATTESTATION: what the broker verified about the device key (docs/broker-server.md, "Devices").
        io.stdout(`${'DEVICE'.padEnd(38)}${'NAME'.padEnd(24)}${'ASSURANCE'.padEnd(13)}${'ATTESTATION'.padEnd(15)}${'DECISION'.padEnd(10)}${'AGE'.padEnd(8)}STATE\n`);
        for (const d of devices) {
          const state = d.revokedAt ? 'revoked' : d.connected ? 'online' : 'offline';
          io.stdout(
            `${d.deviceId.padEnd(38)}${(d.name ?? '-').slice(0, 22).padEnd(24)}${d.assurance.padEnd(13)}${d.keyAttestation.padEnd(15)}${(d.posture?.decision ?? '-').padEnd(10)}${(d.posture ? `${d.posture.ageSeconds}s` : '-').padEnd(8)}${state}\n`,
          );
        }
      }
      return EXIT.ok;
    }
    case 'challenge': {
      if (!sub) throw new UsageError('challenge ID');
      const timeoutSeconds = intOption(values.timeout, 'timeout', 1, 300);
      print(io, await client(values, io).request('POST', `/devices/${encodeURIComponent(sub)}/challenge`, timeoutSeconds ? { timeoutSeconds } : {}));
      return EXIT.ok;
    }
    case 'revoke': {
      if (sub === 'device' && arg) {
        print(io, await client(values, io).request('POST', `/admin/devices/${encodeURIComponent(arg)}/revoke`, values.reason ? { reason: values.reason } : {}));
        return EXIT.ok;
      }
      if (sub === 'session' && arg) {
        print(io, await client(values, io).request('POST', '/admin/sessions/revoke', { username: arg, ...(values.reason ? { reason: values.reason } : {}) }));
        return EXIT.ok;
      }
      throw new UsageError('revoke device ID | revoke session USERNAME');
    }
    case 'policy': {
      if (sub === 'set' && arg) {
        let document: unknown;
        try {
          document = JSON.parse(readFileSync(arg, 'utf8'));
        } catch (err) {
          throw new BrokerError('bad-request', `Cannot read ${arg} as JSON.`, { cause: err });
        }
        print(io, await client(values, io).request('PUT', '/admin/policy', document));
        return EXIT.ok;
      }
      if (sub === 'show') {
        print(io, await client(values, io).request('GET', '/admin/policy'));
        return EXIT.ok;
      }
      throw new UsageError('policy set FILE | policy show');
    }
    case 'history': {
      const limit = intOption(values.limit, 'limit', 1, 1000);
      const q = new URLSearchParams({ ...(values.device ? { device: values.device } : {}), ...(values.failures ? { failures: '1' } : {}), ...(limit ? { limit: String(limit) } : {}) });
      print(io, await client(values, io).request('GET', `/admin/history?${q}`));
      return EXIT.ok;
    }
    case 'credentials': {
      if (sub !== 'create' || (values.role !== 'admin' && values.role !== 'query')) throw new UsageError('credentials create --role admin|query');
      print(io, await client(values, io).request('POST', '/admin/credentials', { role: values.role, label: values.label ?? '' }));
      return EXIT.ok;
    }
    case 'push':
      return push(sub, [arg, ...more].filter((a) => a !== undefined), values, io);
    case 'users':
      if (sub === 'add') return usersAdd(arg, values, io);
      if (sub === 'list') return usersList(values, io);
      if (sub === 'unlock' && arg) {
        print(io, await client(values, io).request('POST', `/admin/users/${encodeURIComponent(arg)}/unlock`));
        return EXIT.ok;
      }
      throw new UsageError('users add USERNAME | users list | users unlock USERNAME');
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** `ward-broker …` (bin/ward-broker.mjs): returns the exit code. */
export async function main(argv: string[], io: CliIO = processIO()): Promise<number> {
  try {
    return await run(argv, io);
  } catch (err) {
    if (err instanceof UsageError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
      io.stderr(`ward-broker: ${err.message}\n\n${HELP}`);
      return EXIT.usage;
    }
    if (err instanceof WardError) {
      io.stderr(`ward-broker: ${err.message}${err.hint ? `\n  ${err.hint}` : ''}\n`);
      return EXIT.failure;
    }
    io.stderr(`ward-broker: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failure;
  }
}
