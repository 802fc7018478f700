import type Database from 'better-sqlite3';
import type { SetQueueStore } from '../../sdk/index.js';
import type { DeviceSetQueueStore } from './storage.js';

/** The `device_set_queue` table (migration 5) behind {@link DeviceSetQueueStore}. */
export function sqliteDeviceSetQueue(db: Database.Database, now: () => number = Date.now): DeviceSetQueueStore {
  const put = db.prepare(
    'INSERT INTO device_set_queue (device_id, jti, set_jwt, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (device_id, jti) DO UPDATE SET set_jwt = excluded.set_jwt',
  );
  const remove = db.prepare('DELETE FROM device_set_queue WHERE device_id = ? AND jti = ?');
  const has = db.prepare('SELECT 1 FROM device_set_queue WHERE device_id = ? AND jti = ?');
  const size = db.prepare('SELECT COUNT(*) AS n FROM device_set_queue WHERE device_id = ?');
  const oldest = db.prepare('SELECT jti, set_jwt FROM device_set_queue WHERE device_id = ? ORDER BY seq LIMIT ?');
  const purge = db.prepare('DELETE FROM device_set_queue WHERE created_at < ?');
  return {
    forDevice(deviceId: string): SetQueueStore {
      return {
        put: (jti, set) => void put.run(deviceId, jti, set, now()),
        delete: (jti) => remove.run(deviceId, jti).changes > 0,
        has: (jti) => has.get(deviceId, jti) !== undefined,
        size: () => Number((size.get(deviceId) as { n: number }).n),
        oldest: (limit) => (oldest.all(deviceId, limit) as Array<{ jti: string; set_jwt: string }>).map((r) => [r.jti, r.set_jwt] as const),
      };
    },
    purgeBefore: (cutoffMs) => purge.run(cutoffMs).changes,
  };
}
