/**
 * Child process for the crash test: enqueues items as fast as it can and prints each id AFTER
 * `enqueue` returned (i.e. after the commit was fsynced). The parent kills it with SIGKILL.
 */
import { createHash } from 'node:crypto';
import { Outbox } from '../../../../../main/core/broker/outbox.js';

const [path] = process.argv.slice(2);
const outbox = Outbox.open(path!, { maxItems: 1_000_000 });
process.stdout.write('ready\n');
for (let i = 0; ; i++) {
  // Bodies big enough that a write spans several pages: a torn write would show.
  const payload = `item-${i}-${'x'.repeat(4000 + (i % 7) * 1000)}`;
  const body = JSON.stringify({ i, payload, sha: createHash('sha256').update(payload).digest('hex') });
  const id = outbox.enqueue(i % 3 === 0 ? 'set' : 'posture', body);
  process.stdout.write(`${id}\n`);
}
