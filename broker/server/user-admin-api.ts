import { z } from 'zod';
import type { BrokerCore } from './broker-core.js';
import { UserSchema, type UserStore } from './config.js';
import { bearerToken, sendJson, validate } from './http/http-io.js';
import type { RouteContext, Router } from './http/router.js';
import type { LoginThrottle } from './login-throttle.js';

const Username = UserSchema.shape.username;

/**
 * Admin routes for the users of the config file (docs/broker-server.md, "Sign-in throttling"):
 * `GET /admin/users` (each user with its sign-in lock state) and
 * `POST /admin/users/{username}/unlock`. Admin bearer only.
 */
export function registerUserAdminApi(router: Router, deps: { core: BrokerCore; users: UserStore; throttle: LoginThrottle }): void {
  const { core, users, throttle } = deps;
  const admin = (ctx: RouteContext) => core.authenticate(bearerToken(ctx.req), ['admin']);

  router.add('GET', '/admin/users', async (ctx) => {
    admin(ctx);
    sendJson(ctx.res, 200, {
      users: users.list().map((u) => ({ username: u.username, name: u.name ?? null, email: u.email ?? null, totp: u.totpSecret !== undefined, signIn: throttle.state(u.username) })),
    });
  });

  router.add('POST', '/admin/users/:username/unlock', async (ctx) => {
    admin(ctx);
    const username = validate(z.object({ username: Username }), { username: ctx.params.username }).username;
    // Any name can be unlocked: unknown usernames are throttled like real ones.
    sendJson(ctx.res, 200, { username, known: users.find(username) !== undefined, before: throttle.unlock(username) });
  });
}
