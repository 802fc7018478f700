import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real RFC 8935 push receiver on 127.0.0.1 for the broker's restart tests: answers 503 until
 * `accepting` is set, then 202, and records every attempt with the status it was given.
 */
export interface SetReceiver {
  readonly url: string;
  readonly attempts: { status: number; body: string }[];
  accepting: boolean;
  close(): Promise<void>;
}

export async function startSetReceiver(): Promise<SetReceiver> {
  const attempts: { status: number; body: string }[] = [];
  const state = { accepting: false };
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const status = state.accepting ? 202 : 503;
      attempts.push({ status, body });
      res.writeHead(status).end();
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
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
