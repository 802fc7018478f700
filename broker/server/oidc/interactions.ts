import { createHmac, timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { ACR_MFA, ACR_PASSWORD, type UserStore } from '../config.js';
import { BrokerError } from '../errors.js';
import { readBody, sendHtml, validate } from '../http/http-io.js';
import type { RouteContext, Router } from '../http/router.js';
import type { LoginThrottle, Locked } from '../login-throttle.js';
import { verifyPassword } from '../passwords.js';
import { matchTotpStep } from '../totp.js';

const FORM_LIMIT_BYTES = 8 * 1024;

const LoginForm = z.object({
  csrf: z.string().max(128),
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(1024),
  otp: z.string().max(12).optional(),
});
const ConsentForm = z.object({ csrf: z.string().max(128), decision: z.enum(['approve', 'deny']) });

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escape(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1rem}.err{color:#a00}</style>
</head><body><h1>${escape(title)}</h1>${body}</body></html>`;
}

/**
 * The sign-in and consent pages oidc-provider sends the browser to. CSRF-safe: each form carries
 * an HMAC of the interaction id (which is itself bound to the signed `_interaction` cookie),
 * a cross-site `Origin` is refused, and the pages are plain HTML with a CSP that allows no script.
 */
export function registerInteractions(
  router: Router,
  deps: { provider: Provider; users: UserStore; csrfKey: string; issuer: string; now: () => number; throttle: LoginThrottle },
): void {
  const { provider, users, throttle } = deps;
  const csrfFor = (uid: string): string => createHmac('sha256', deps.csrfKey).update(`interaction:${uid}`).digest('base64url');
  const checkCsrf = (ctx: RouteContext, token: string): void => {
    const origin = ctx.req.headers.origin;
    if (origin !== undefined && origin !== 'null' && origin !== new URL(deps.issuer).origin) {
      throw new BrokerError('forbidden', 'This form can only be posted from the sign-in page.');
    }
    const expected = Buffer.from(csrfFor(ctx.params.uid ?? ''));
    const given = Buffer.from(token);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new BrokerError('forbidden', 'The sign-in form expired. Go back to the application and start again.');
    }
  };
  const details = async (ctx: RouteContext) => {
    try {
      const d = await provider.interactionDetails(ctx.req, ctx.res);
      if (d.uid !== ctx.params.uid) throw new Error('uid mismatch');
      return d;
    } catch (err) {
      throw new BrokerError('not-found', 'This sign-in request expired or belongs to another browser. Start again from the application.', { cause: err });
    }
  };
  const readForm = async <S extends z.ZodType>(ctx: RouteContext, schema: S): Promise<z.infer<S>> => {
    const body = await readBody(ctx.req, FORM_LIMIT_BYTES);
    return validate(schema, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
  };
  const wantsMfa = (params: Record<string, unknown>): boolean => String(params.acr_values ?? '').split(' ').includes(ACR_MFA);

  const loginPage = (uid: string, params: Record<string, unknown>, error?: string) =>
    page(
      'Sign in to Ward',
      `${error ? `<p class="err">${escape(error)}</p>` : ''}<form method="post" action="/interaction/${escape(uid)}/login" autocomplete="off">
<input type="hidden" name="csrf" value="${csrfFor(uid)}">
<label for="username">Username</label><input id="username" name="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" required>
${wantsMfa(params) ? '<label for="otp">One-time code (authenticator app)</label><input id="otp" name="otp" inputmode="numeric" pattern="[0-9]{6}" required>' : ''}
<button type="submit">Sign in</button></form>`,
    );

  router.add('GET', '/interaction/:uid', async (ctx) => {
    const d = await details(ctx);
    const uid = d.uid;
    if (d.prompt.name === 'login') {
      sendHtml(ctx.res, 200, loginPage(uid, d.params));
      return;
    }
    const scopes = [...new Set([...((d.prompt.details.missingOIDCScope as string[] | undefined) ?? []), ...Object.values((d.prompt.details.missingResourceScopes as Record<string, string[]> | undefined) ?? {}).flat()])];
    sendHtml(
      ctx.res,
      200,
      page(
        'Allow access?',
        `<p><strong>${escape(String(d.params.client_id))}</strong> asks to act for you with: ${escape(scopes.join(', ') || 'your sign-in')}.</p>
<form method="post" action="/interaction/${escape(uid)}/consent"><input type="hidden" name="csrf" value="${csrfFor(uid)}">
<button type="submit" name="decision" value="approve">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></form>`,
      ),
    );
  });

  router.add('POST', '/interaction/:uid/login', async (ctx) => {
    const form = await readForm(ctx, LoginForm);
    checkCsrf(ctx, form.csrf);
    const d = await details(ctx);
    if (d.prompt.name !== 'login') throw new BrokerError('conflict', 'This sign-in step is already done.');
    // Throttled before any password is checked, by account and by client address; the same for
    // usernames that do not exist (docs/broker-server.md, "Sign-in throttling").
    const attempt = throttle.begin(form.username, ctx.req.socket.remoteAddress);
    const refuse = (status: number, message: string, locked: Locked | undefined): void => {
      if (!locked) {
        sendHtml(ctx.res, status, loginPage(d.uid, d.params, message));
        return;
      }
      const wait = locked.retryAfterSeconds;
      const why = wait === undefined ? 'Sign-in with this username is locked after too many failed attempts. Ask IT to unlock it.' : `Too many failed sign-in attempts. Try again in ${inWords(wait)}.`;
      sendHtml(ctx.res, wait === undefined ? 403 : 429, loginPage(d.uid, d.params, message ? `${message} ${why}` : why), wait === undefined ? {} : { 'retry-after': String(wait) });
    };
    if (!attempt.allowed) {
      refuse(429, '', attempt);
      return;
    }
    const user = users.find(form.username);
    // Verify a password even for unknown users so response time does not reveal who exists.
    const passwordOk = await verifyPassword(form.password, user?.passwordHash ?? DUMMY_HASH);
    if (!user || !passwordOk) {
      refuse(401, 'Wrong username or password.', attempt.failed(user?.username));
      return;
    }
    let acr = ACR_PASSWORD;
    if (wantsMfa(d.params) || form.otp) {
      if (!user.totpSecret) {
        // The password was right: nothing was guessed, so this is no failed attempt.
        attempt.succeeded();
        refuse(401, 'This account has no second factor; ask IT to add one.', undefined);
        return;
      }
      const step = form.otp ? matchTotpStep(user.totpSecret, form.otp, deps.now()) : undefined;
      if (step === undefined) {
        refuse(401, 'The one-time code is wrong or expired.', attempt.failed(user.username));
        return;
      }
      if (!throttle.useTotpStep(user.username, step)) {
        refuse(401, 'This one-time code was already used. Wait for the next code in your authenticator app.', attempt.failed(user.username));
        return;
      }
      acr = ACR_MFA;
    }
    attempt.succeeded();
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { login: { accountId: user.username, acr, amr: acr === ACR_MFA ? ['pwd', 'otp'] : ['pwd'], remember: true } },
      { mergeWithLastSubmission: false },
    );
  });

  router.add('POST', '/interaction/:uid/consent', async (ctx) => {
    const form = await readForm(ctx, ConsentForm);
    checkCsrf(ctx, form.csrf);
    const d = await details(ctx);
    if (d.prompt.name !== 'consent') throw new BrokerError('conflict', 'This consent step is already done.');
    if (form.decision === 'deny') {
      await provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: 'The user denied access.' }, { mergeWithLastSubmission: false });
      return;
    }
    const accountId = d.session?.accountId;
    const clientId = String(d.params.client_id);
    if (!accountId) throw new BrokerError('conflict', 'Sign in first.');
    const grant = d.grantId ? await provider.Grant.find(d.grantId) : new provider.Grant({ accountId, clientId });
    if (!grant) throw new BrokerError('conflict', 'This sign-in request expired. Start again from the application.');
    const missingOidc = d.prompt.details.missingOIDCScope as string[] | undefined;
    if (missingOidc?.length) grant.addOIDCScope(missingOidc.join(' '));
    const missingClaims = d.prompt.details.missingOIDCClaims as string[] | undefined;
    if (missingClaims?.length) grant.addOIDCClaims(missingClaims);
    const missingResource = d.prompt.details.missingResourceScopes as Record<string, string[]> | undefined;
    for (const [indicator, scopes] of Object.entries(missingResource ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  });
}

/** "30 seconds", "1 minute", "15 minutes": the wait as a person reads it. */
function inWords(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}

// A valid hash of a random password, verified against when the username is unknown.
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
