import { z } from 'zod';
import type { BrokerCore } from './broker-core.js';
import { bearerToken, readJson, sendJson, validate } from './http/http-io.js';
import type { RouteContext, Router } from './http/router.js';
import { PUSH_DEAD_LETTERS_MAX, type SignalEmitter } from './signals.js';
import type { DeadLetter } from './storage/storage.js';

const DeadLetterId = z.string().regex(/^[1-9]\d{0,14}$/, 'a dead letter id (a positive integer)').transform(Number);
const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(PUSH_DEAD_LETTERS_MAX).optional() }).strict();
const ResendBody = z.union([
  z.object({ ids: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).min(1).max(PUSH_DEAD_LETTERS_MAX) }).strict(),
  z.object({ all: z.literal(true) }).strict(),
]);

/** A dead letter as the admin API shows it. */
export function deadLetterView(d: DeadLetter): Record<string, unknown> {
  return {
    id: d.id,
    receiver: d.receiver,
    type: d.type,
    attempts: d.attempts,
    lastStatus: d.lastStatus,
    lastError: d.lastError,
    createdAt: new Date(d.createdAtMs).toISOString(),
    deadAt: new Date(d.deadAtMs).toISOString(),
    set: d.setJwt,
  };
}

/**
 * Admin routes for the push receiver's dead letters (docs/broker-server.md, "Shared Signals
 * delivery"): list, resend (back into the push queue, in order) and drop. Admin bearer only.
 */
export function registerPushAdminApi(router: Router, deps: { core: BrokerCore; signals: SignalEmitter }): void {
  const { core, signals } = deps;
  const admin = (ctx: RouteContext) => core.authenticate(bearerToken(ctx.req), ['admin']);

  router.add('GET', '/admin/push/dead-letters', async (ctx) => {
    admin(ctx);
    const q = validate(ListQuery, Object.fromEntries(ctx.url.searchParams));
    const { total, deadLetters } = signals.deadLetters(q.limit ?? 100);
    sendJson(ctx.res, 200, { total, deadLetters: deadLetters.map(deadLetterView) });
  });

  router.add('POST', '/admin/push/dead-letters/resend', async (ctx) => {
    admin(ctx);
    const body = await readJson(ctx.req, ResendBody, 256 * 1024);
    sendJson(ctx.res, 200, signals.resend('all' in body ? 'all' : body.ids));
  });

  router.add('DELETE', '/admin/push/dead-letters/:id', async (ctx) => {
    admin(ctx);
    const id = validate(DeadLetterId, ctx.params.id);
    signals.dropDeadLetter(id);
    sendJson(ctx.res, 200, { dropped: id });
  });
}
