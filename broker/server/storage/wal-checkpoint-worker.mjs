// The WAL checkpointer's thread (see wal-checkpointer.ts): its own better-sqlite3 connection to
// the broker's database, so that copying WAL frames into the database file and the fsyncs that
// go with it never run on the broker's event loop. Plain JavaScript: a worker thread does not
// inherit tsx's loader, under `ward-broker` nor under vitest.
import { clearInterval, setInterval } from 'node:timers';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** @type {{ file: string, intervalMs: number, hardLimitBytes: number }} */
const { file, intervalMs, hardLimitBytes } = workerData;
const CATCH_UP_ROUNDS = 8;
const db = new Database(file);
// TRUNCATE and RESTART wait for the writer lock, briefly: a busy broker gets the next tick.
db.pragma('busy_timeout = 100');
const pageSize = Number(db.pragma('page_size', { simple: true }));
let lastLog = -1;
/** The WAL file may hold bytes since the last TRUNCATE. */
let walFileUsed = false;

/** @param {string} mode */
function checkpoint(mode) {
  const row = db.pragma(`wal_checkpoint(${mode})`)[0];
  return { mode, busy: Number(row.busy), log: Number(row.log), checkpointed: Number(row.checkpointed) };
}

function tick() {
  try {
    let result = checkpoint('PASSIVE');
    // A PASSIVE checkpoint copies the frames that were there when it began (`log`); the broker's
    // next commit starts the WAL over from its beginning only if by then every frame has been
    // copied. Under steady load commits land during the copy, so catch up with the frames they
    // added until a round finds none new: the WAL was then complete between two commits.
    for (let i = 0; i < CATCH_UP_ROUNDS && result.busy === 0; i++) {
      const next = checkpoint('PASSIVE');
      const caughtUp = next.log <= result.log;
      result = next;
      if (caughtUp) break;
    }
    if (result.log > 0) walFileUsed = true;
    if (walFileUsed && result.busy === 0 && result.log === result.checkpointed && result.log === lastLog) {
      // Every frame is in the database and none arrived since the last tick: the broker is idle,
      // so shrink the WAL file to zero (neither PASSIVE nor RESTART truncates it; after a RESTART
      // the WAL reads as empty, `log` 0, while the file keeps its size). Checked first, so an
      // idle broker never RESTARTs.
      result = checkpoint('TRUNCATE');
      if (result.busy === 0) walFileUsed = false;
    } else if (result.log * pageSize > hardLimitBytes) {
      // The catch-up never won (a long reader, or commits closer together than a checkpoint's
      // fsync): RESTART waits for the writer lock, so the broker's commits pause while it copies
      // the remaining frames, and the next commit starts the WAL over. This is what bounds the WAL.
      result = checkpoint('RESTART');
    }
    lastLog = result.log;
    parentPort?.postMessage({ type: 'checkpoint', ...result });
  } catch (err) {
    parentPort?.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    stop();
  }
}

const timer = setInterval(tick, intervalMs);

function stop() {
  clearInterval(timer);
  if (db.open) db.close();
  parentPort?.close();
}

parentPort?.on('message', (message) => {
  if (message === 'stop') stop();
});
