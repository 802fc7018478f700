import type { IncomingMessage, ServerResponse } from 'node:http';
import { expect } from 'vitest';
import { parsePollRequest, type MemorySetQueue, type PollRequest } from '../../../../../broker/sdk/index.js';

/** Wait (real time) until `predicate` holds; fails the test after ~5 s. */
export async function until(predicate: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !predicate(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(predicate()).toBe(true);
}

/**
 * A node:http handler for an RFC 8936 transmitter backed by the SDK's MemorySetQueue. `onRequest`
 * sees each valid request; when it returns an answer, that is sent instead of polling the queue.
 */
export function pollTransmitter(queue: () => MemorySetQueue, onRequest: (request: PollRequest) => { status: number; body: string } | undefined = () => undefined) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = parsePollRequest(Buffer.concat(chunks).toString('utf8'));
      if (!request.ok) {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ err: 'invalid_request', description: request.detail }));
        return;
      }
      const override = onRequest(request.value);
      if (override) {
        res.writeHead(override.status, { 'content-type': 'application/json' }).end(override.body);
        return;
      }
      void queue()
        .poll(request.value)
        .then((answer) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer)));
    });
  };
}
