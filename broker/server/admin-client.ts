import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { BrokerError } from './errors.js';

const ErrorBody = z.object({ error: z.string(), message: z.string(), reason: z.string().optional() });

/**
 * The admin CLI's HTTP client for a running broker. It finds the broker through
 * `DATA/broker.json` (written at start) unless given a URL, and its admin credential in
 * `WARD_BROKER_ADMIN_TOKEN` or `DATA/admin-token`.
 */
export class AdminClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly doFetch: typeof fetch = fetch,
  ) {}

  static locate(options: { dataDir: string; url?: string | undefined; token?: string | undefined }): AdminClient {
    let url = options.url;
    if (!url) {
      try {
        const info = z.object({ url: z.string().url() }).parse(JSON.parse(readFileSync(join(options.dataDir, 'broker.json'), 'utf8')));
        url = info.url;
      } catch {
        throw new BrokerError('bad-request', `No running broker found in ${options.dataDir}.`, { hint: 'Start it with `npm run broker`, or pass --url URL (and --data DIR of that broker).' });
      }
    }
    let token = options.token;
    if (!token) {
      try {
        token = readFileSync(join(options.dataDir, 'admin-token'), 'utf8').trim();
      } catch {
        throw new BrokerError('unauthorized', `No admin credential: set WARD_BROKER_ADMIN_TOKEN or keep ${join(options.dataDir, 'admin-token')}.`);
      }
    }
    return new AdminClient(url.replace(/\/$/, ''), token);
  }

  async request(method: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response;
    try {
      response = await this.doFetch(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(320_000),
      });
    } catch (err) {
      throw new BrokerError('bad-request', `Cannot reach the broker at ${this.baseUrl}: is it running?`, { cause: err });
    }
    const text = await response.text();
    let value: unknown;
    try {
      value = text ? JSON.parse(text) : null;
    } catch {
      throw new BrokerError('internal', `The broker answered HTTP ${response.status} with a body that is not JSON.`);
    }
    if (!response.ok) {
      const parsed = ErrorBody.safeParse(value);
      const message = parsed.success ? `${parsed.data.message}${parsed.data.reason ? ` (${parsed.data.reason})` : ''}` : `HTTP ${response.status}`;
      throw new BrokerError('bad-request', `The broker refused: ${message}`);
    }
    return value;
  }
}
