import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { BrokerSdkError, reject, type Rejection } from '../errors.js';
import { parseCompactJws, parseJsonSegment, signCompactJws, verifyWithKid, type JwsSigner, type VerificationKey } from '../jws.js';

/**
 * JWS `typ` of a Security Event Token (RFC 8417 §2.3).
 *
 * @example
 * ```ts
 * if (header.typ === SET_TYP) verifySet(token, options);
 * ```
 */
export const SET_TYP = 'secevent+jwt';

/**
 * The CAEP event types Ward sends and receives, by short name.
 *
 * @example
 * ```ts
 * claims.events[CAEP_EVENT_TYPES['session-revoked']]; // the event payload
 * ```
 */
export const CAEP_EVENT_TYPES = {
  'device-compliance-change': 'https://schemas.openid.net/secevent/caep/event-type/device-compliance-change',
  'session-revoked': 'https://schemas.openid.net/secevent/caep/event-type/session-revoked',
  'credential-change': 'https://schemas.openid.net/secevent/caep/event-type/credential-change',
  'assurance-level-change': 'https://schemas.openid.net/secevent/caep/event-type/assurance-level-change',
} as const;
export type CaepEventName = keyof typeof CAEP_EVENT_TYPES;

// CAEP 1.0 §3: reason_admin / reason_user are language-tagged maps ({ "en": "…" }); early drafts
// used plain strings, which are still seen in the wild, so both are accepted.
const Reason = z.union([z.string().max(2000), z.record(z.string().max(35), z.string().max(2000))]);
const CommonEventFields = {
  event_timestamp: z.number().int().nonnegative(),
  initiating_entity: z.enum(['admin', 'user', 'policy', 'system']).optional(),
  reason_admin: Reason.optional(),
  reason_user: Reason.optional(),
};

/**
 * The payload of each CAEP event (CAEP 1.0 §3), keyed by short name.
 *
 * @example
 * ```ts
 * CaepEventSchemas['credential-change'].parse({ event_timestamp: 1735689600, credential_type: 'password', change_type: 'update' });
 * ```
 */
export const CaepEventSchemas = {
  'device-compliance-change': z.object({
    ...CommonEventFields,
    previous_status: z.enum(['compliant', 'not-compliant']),
    current_status: z.enum(['compliant', 'not-compliant']),
  }).loose(),
  'session-revoked': z.object(CommonEventFields).loose(),
  'credential-change': z.object({
    ...CommonEventFields,
    credential_type: z.string().min(1).max(64),
    change_type: z.enum(['create', 'revoke', 'update', 'delete']),
    friendly_name: z.string().max(256).optional(),
    x509_issuer: z.string().max(2048).optional(),
    x509_serial: z.string().max(256).optional(),
    fido2_aaguid: z.string().max(64).optional(),
  }).loose(),
  'assurance-level-change': z.object({
    ...CommonEventFields,
    namespace: z.string().min(1).max(256),
    current_level: z.string().min(1).max(256),
    previous_level: z.string().min(1).max(256).optional(),
    change_direction: z.enum(['increase', 'decrease']).optional(),
  }).loose(),
} as const;
export type CaepEventPayload<N extends CaepEventName> = z.infer<(typeof CaepEventSchemas)[N]>;

const SimpleSubject = z.discriminatedUnion('format', [
  z.object({ format: z.literal('opaque'), id: z.string().min(1).max(1024) }),
  z.object({ format: z.literal('email'), email: z.string().min(3).max(320) }),
  z.object({ format: z.literal('iss_sub'), iss: z.string().min(1).max(2048), sub: z.string().min(1).max(1024) }),
  z.object({ format: z.literal('account'), uri: z.string().min(1).max(2048) }),
  z.object({ format: z.literal('uri'), uri: z.string().min(1).max(2048) }),
  z.object({ format: z.literal('did'), url: z.string().min(1).max(2048) }),
  z.object({ format: z.literal('phone_number'), phone_number: z.string().min(1).max(64) }),
]);

/**
 * A subject identifier (RFC 9493) as OpenID Shared Signals puts it in the top-level `sub_id`
 * claim. Ward names a device with `{ format: 'complex', device: { format: 'opaque', id } }`,
 * adding `user` and `session` members when the event concerns them.
 *
 * @example
 * ```ts
 * SubjectIdSchema.parse({ format: 'complex', device: { format: 'opaque', id: deviceId } });
 * ```
 */
export const SubjectIdSchema = z.union([
  SimpleSubject,
  z.object({
    format: z.literal('complex'),
    user: SimpleSubject.optional(),
    device: SimpleSubject.optional(),
    session: SimpleSubject.optional(),
    application: SimpleSubject.optional(),
    tenant: SimpleSubject.optional(),
    org_unit: SimpleSubject.optional(),
    group: SimpleSubject.optional(),
  }).refine((s) => Object.keys(s).length > 1, { message: 'a complex subject names at least one member' }),
]);
export type SubjectId = z.infer<typeof SubjectIdSchema>;

/**
 * The claims of a SET (RFC 8417 §2.2) as Shared Signals uses them: one event per SET.
 *
 * @example
 * ```ts
 * SetClaimsSchema.parse(payload).sub_id;
 * ```
 */
export const SetClaimsSchema = z.object({
  iss: z.string().min(1).max(2048),
  iat: z.number().int().nonnegative(),
  jti: z.string().min(1).max(256),
  aud: z.union([z.string().min(1).max(2048), z.array(z.string().min(1).max(2048)).min(1).max(20)]),
  txn: z.string().max(256).optional(),
  sub_id: SubjectIdSchema,
  events: z.record(z.string().max(2048), z.record(z.string(), z.unknown())),
});
export type SetClaims = z.infer<typeof SetClaimsSchema>;

export interface BuildSetInput<N extends CaepEventName> {
  readonly type: N;
  readonly subject: SubjectId;
  /** The event payload; `event_timestamp` defaults to `now`. */
  readonly event: Omit<CaepEventPayload<N>, 'event_timestamp'> & { event_timestamp?: number };
  readonly issuer: string;
  readonly audience: string | readonly string[];
  /** Default: a random UUID. */
  readonly jti?: string;
  /** Transaction id (RFC 8417 §2.2) tying this SET to others about the same change. */
  readonly txn?: string;
  readonly now?: Date;
}

export type SetRejectReason =
  | 'malformed'
  | 'wrong-typ'
  | 'unsupported-alg'
  | 'unknown-key'
  | 'bad-signature'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'not-yet-valid'
  | 'too-old'
  | 'unsupported-event'
  | 'invalid-event';

export interface VerifySetOptions {
  /** Trusted transmitter keys, chosen by the SET's `kid`. */
  readonly keys: readonly VerificationKey[];
  /** When set, `iss` must equal it. */
  readonly issuer?: string;
  /** When set, `aud` must be (or contain) it. */
  readonly audience?: string;
  /** Refuse SETs issued longer ago than this. Default: no limit (SETs have no `exp`). */
  readonly maxAgeSeconds?: number;
  /** Default 60. */
  readonly clockSkewSeconds?: number;
  readonly now?: Date;
}

/** A verified CAEP SET, narrowed to the one event it carries. */
export type VerifiedSet = {
  [N in CaepEventName]: { readonly type: N; readonly event: CaepEventPayload<N>; readonly claims: SetClaims; readonly jti: string; readonly subject: SubjectId };
}[CaepEventName];

export type SetVerdict = { readonly ok: true; readonly set: VerifiedSet } | Rejection<SetRejectReason>;

/**
 * Build and sign a CAEP Security Event Token (RFC 8417, `typ: secevent+jwt`) carrying one event.
 *
 * @example
 * ```ts
 * const set = await buildSet(
 *   {
 *     type: 'device-compliance-change',
 *     subject: { format: 'complex', device: { format: 'opaque', id: deviceId } },
 *     event: { previous_status: 'compliant', current_status: 'not-compliant', initiating_entity: 'policy' },
 *     issuer: 'https://broker.example',
 *     audience: 'https://pdp.example',
 *   },
 *   es256Signer(brokerKey, 'set-2025'),
 * );
 * ```
 */
export async function buildSet<N extends CaepEventName>(input: BuildSetInput<N>, signer: JwsSigner): Promise<string> {
  const iat = Math.floor((input.now?.getTime() ?? Date.now()) / 1000);
  const event = { event_timestamp: iat, ...input.event };
  const checked = CaepEventSchemas[input.type].safeParse(event);
  if (!checked.success) {
    throw new BrokerSdkError('invalid-argument', `invalid ${input.type} event: ${checked.error.issues[0]?.path.join('.') ?? ''} ${checked.error.issues[0]?.message ?? ''}`.trim());
  }
  const claims: SetClaims = {
    iss: input.issuer,
    iat,
    jti: input.jti ?? randomUUID(),
    aud: typeof input.audience === 'string' ? input.audience : [...input.audience],
    ...(input.txn === undefined ? {} : { txn: input.txn }),
    sub_id: input.subject,
    events: { [CAEP_EVENT_TYPES[input.type]]: event },
  };
  return signCompactJws({ typ: SET_TYP }, claims, signer);
}

const NAME_BY_URI = new Map<string, CaepEventName>(Object.entries(CAEP_EVENT_TYPES).map(([name, uri]) => [uri, name as CaepEventName]));

/**
 * Verify a CAEP SET: `typ`, ES256 signature by a trusted key (`kid`), issuer, audience, `iat`,
 * exactly one known CAEP event with a valid payload, and a valid `sub_id`. Never throws.
 *
 * @example
 * ```ts
 * const verdict = verifySet(token, { keys: [{ kid: 'set-2025', key: brokerJwk }], issuer: 'https://broker.example', audience: agentId });
 * if (verdict.ok && verdict.set.type === 'session-revoked') signOut();
 * ```
 */
export function verifySet(jwt: unknown, options: VerifySetOptions): SetVerdict {
  const parsed = parseCompactJws(jwt);
  if ('ok' in parsed) return parsed;
  if (parsed.header.typ !== SET_TYP) return reject('wrong-typ', `the token's typ is not ${SET_TYP}`);
  if (parsed.header.alg !== 'ES256') return reject('unsupported-alg', 'SETs must be signed with ES256');
  if (parsed.header.crit !== undefined) return reject('malformed', 'the header has crit parameters this verifier does not understand');
  const outcome = verifyWithKid(parsed, options.keys);
  if (outcome === 'unknown-key') return reject('unknown-key', 'the SET is signed by a key this receiver does not trust');
  if (outcome === 'bad-signature') return reject('bad-signature', 'the signature does not verify with the transmitter key');
  const result = SetClaimsSchema.safeParse(parseJsonSegment(parsed.payloadB64));
  if (!result.success) return reject('malformed', `SET claim ${result.error.issues[0]?.path.join('.') || '(root)'}: ${result.error.issues[0]?.message ?? 'invalid'}`);
  const claims = result.data;
  if (options.issuer !== undefined && claims.iss !== options.issuer) return reject('wrong-issuer', 'the SET comes from another transmitter');
  if (options.audience !== undefined) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(options.audience)) return reject('wrong-audience', 'the SET is addressed to another receiver');
  }
  const nowSeconds = Math.floor((options.now?.getTime() ?? Date.now()) / 1000);
  const skew = options.clockSkewSeconds ?? 60;
  if (claims.iat > nowSeconds + skew) return reject('not-yet-valid', 'the SET was issued in the future');
  if (options.maxAgeSeconds !== undefined && nowSeconds - claims.iat > options.maxAgeSeconds + skew) return reject('too-old', `the SET is ${nowSeconds - claims.iat} s old`);
  const entries = Object.entries(claims.events);
  if (entries.length !== 1) return reject('unsupported-event', 'a Shared Signals SET carries exactly one event');
  const [uri, payload] = entries[0] as [string, Record<string, unknown>];
  const name = NAME_BY_URI.get(uri);
  if (name === undefined) return reject('unsupported-event', 'the event type is not one this receiver understands');
  const event = CaepEventSchemas[name].safeParse(payload);
  if (!event.success) return reject('invalid-event', `${name} ${event.error.issues[0]?.path.join('.') || '(root)'}: ${event.error.issues[0]?.message ?? 'invalid'}`);
  return { ok: true, set: { type: name, event: event.data, claims, jti: claims.jti, subject: claims.sub_id } as VerifiedSet };
}
