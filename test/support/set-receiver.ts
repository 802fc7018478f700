import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real RFC 8935 push receiver on 127.0.0.1 for the broker's restart tests: answers 503 until
 * `accepting` is set, then 202, and records every attempt with the status it was given. With
 * `refusing` set (e.g. 400) it answers that status and an RFC 8935 error body instead.
 */
export interface SetReceiver {
  readonly url: string;
  readonly attempts: { status: number; body: string; authorization: string | undefined }[];
  accepting: boolean;
  refusing: number | undefined;
  close(): Promise<void>;
}

export async function startSetReceiver(): Promise<SetReceiver> {
  const attempts: SetReceiver['attempts'] = [];
  const state: { accepting: boolean; refusing: number | undefined } = { accepting: false, refusing: undefined };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const status = state.refusing ?? (state.accepting ? 202 : 503);
      attempts.push({ status, body, authorization: req.headers.authorization });
      if (state.refusing === undefined) res.writeHead(status).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ err: 'invalid_audience', description: 'not for this receiver (test)' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/caep`,
    attempts,
    get accepting() {
      return state.accepting;
    },
    set accepting(value: boolean) {
      state.accepting = value;
    },
    get refusing() {
      return state.refusing;
    },
    set refusing(value: number | undefined) {
      state.refusing = value;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
