import type Database from 'better-sqlite3';
import type { DeviceClaimRecord, DeviceClaimStore, NewDeviceClaim } from './storage.js';

type Row = Record<string, unknown>;

function toClaim(r: Row): DeviceClaimRecord {
  return {
    id: Number(r.id),
    deviceId: String(r.device_id),
    jti: String(r.jti),
    eventType: String(r.event_type),
    event: JSON.parse(String(r.event)) as Record<string, unknown>,
    issuedAtMs: Number(r.issued_at),
    receivedAtMs: Number(r.received_at),
    setJwt: String(r.set_jwt),
  };
}

/** The `device_claims` table (migration 4) behind {@link DeviceClaimStore}. */
export function sqliteDeviceClaims(db: Database.Database): DeviceClaimStore {
  const insert = db.prepare(
    'INSERT INTO device_claims (device_id, jti, event_type, event, issued_at, received_at, set_jwt) VALUES (@deviceId, @jti, @eventType, @event, @issuedAtMs, @receivedAtMs, @setJwt) ON CONFLICT (device_id, jti) DO NOTHING',
  );
  const byJti = db.prepare('SELECT set_jwt FROM device_claims WHERE device_id = ? AND jti = ?');
  const list = db.prepare('SELECT * FROM device_claims WHERE device_id = ? ORDER BY id DESC LIMIT ?');
  return {
    add(claim: NewDeviceClaim) {
      const result = insert.run({ ...claim, event: JSON.stringify(claim.event) });
      if (result.changes === 1) return 'added';
      const existing = byJti.get(claim.deviceId, claim.jti) as Row | undefined;
      return existing && String(existing.set_jwt) === claim.setJwt ? 'duplicate' : 'conflict';
    },
    list(deviceId: string, limit: number) {
      return (list.all(deviceId, limit) as Row[]).map(toClaim);
    },
  };
}
