import { CHANNELS, type Channel, type IpcResult, type RequestOf, type ResponseOf, type PowerEvent } from '../../shared/ipc-contract.js';
import { WardError } from '../errors.js';
import { z } from 'zod';
import { ResourceResultSchema, type ResourceResult } from '../session/protected-resource.js';
import { readLocalApiFile, type LocalApiFile } from './local-api-server.js';

const ApiErrorSchema = z.object({ error: z.string().max(100), message: z.string().max(2000), hint: z.string().max(2000).optional() });

/** A client of a running agent's loopback API (the CLI talks to `ward daemon` through it). */
export class LocalApiClient {
  private constructor(readonly file: LocalApiFile) {}

  /** The running daemon of this state directory, or undefined when none answers. */
  static async connect(stateDir: string): Promise<LocalApiClient | undefined> {
    const file = await readLocalApiFile(stateDir);
    if (!file) return undefined;
    const client = new LocalApiClient(file);
    try {
      await client.call('session.status', {});
      return client;
    } catch {
      return undefined; // a stale file of a daemon that died
    }
  }

  async call<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> {
    const res = await fetch(`${this.file.url}/v1/call/${channel}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.file.writeToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json()) as IpcResult<unknown>;
    if (!body.ok) throw new WardError(body.error.code, body.error.message, body.error.hint ? { hint: body.error.hint } : undefined);
    return CHANNELS[channel].response.parse(body.value) as ResponseOf<C>;
  }

  /**
   * GET a protected resource through the daemon (`ward access`). It waits through a step-up:
   * the prompt's deadline plus a browser sign-in.
   */
  async accessResource(url: string, timeoutMs = 10 * 60_000): Promise<ResourceResult> {
    const res = await fetch(`${this.file.url}/v1/resource`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.file.writeToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = (await res.json()) as unknown;
    if (res.ok) return ResourceResultSchema.parse(body);
    const error = ApiErrorSchema.safeParse(body);
    if (!error.success) throw new WardError('local-api-error', `the agent answered ${res.status}`);
    throw new WardError(error.data.error, error.data.message, error.data.hint ? { hint: error.data.hint } : undefined);
  }

  async power(event: PowerEvent): Promise<void> {
    await fetch(`${this.file.url}/v1/power`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.file.writeToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event }),
    });
  }
}
