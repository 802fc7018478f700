import type { IncomingMessage, ServerResponse } from 'node:http';
import { jwkThumbprint, parseCompactJws } from '../sdk/jws.js';
import type { BrokerCore } from './broker-core.js';
import { BrokerError } from './errors.js';
import { readBody } from './http/http-io.js';
import { REPORT_LIMIT_BYTES } from './http-api.js';

function refuse(res: ServerResponse, body: Record<string, unknown>): 'handled' {
  res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  return 'handled';
}

/**
 * Continuous access at token refresh. The Ward agent refreshes its DPoP-bound tokens with a fresh
 * signed posture report in `posture_report`; the report is verified and recorded exactly as
 * `POST /posture` does (one path for verdicts and CAEP signals), from the device the DPoP proof's
 * key names. A `deny` verdict refuses the refresh (`invalid_grant`, `compliant: false` and the
 * failing rules as `reasons`); a report that does not verify refuses it as `invalid_request`.
 * Anything else goes on to the OpenID provider with the body it already read.
 *
 * @returns `handled` when it answered, else the body for the provider.
 */
export async function gateRefresh(req: IncomingMessage, res: ServerResponse, core: BrokerCore): Promise<'handled' | { body: Buffer }> {
  const body = await readBody(req, REPORT_LIMIT_BYTES);
  const params = new URLSearchParams(body.toString('utf8'));
  const report = params.get('posture_report');
  if (params.get('grant_type') !== 'refresh_token' || !report) return { body };
  // The proof itself is checked by oidc-provider next (this only reads whose key it names).
  const proof = parseCompactJws(req.headers.dpop);
  const jwk = 'ok' in proof ? undefined : (proof.header.jwk as Record<string, unknown> | undefined);
  if (!jwk || typeof jwk !== 'object') return refuse(res, { error: 'invalid_dpop_proof', error_description: 'a DPoP proof by the device key is required' });
  try {
    const device = core.deviceForKey(jwkThumbprint(jwk as never));
    const result = await core.ingest(device, report);
    if (result.decision === 'deny') {
      const reasons = result.evaluation.results.filter((r) => !r.passed).map((r) => `${r.check}: ${r.reason}`);
      return refuse(res, { error: 'invalid_grant', error_description: 'device not compliant', compliant: false, reasons });
    }
  } catch (err) {
    if (!(err instanceof BrokerError)) throw err;
    if (err.code === 'unknown-device' || err.code === 'device-revoked') return refuse(res, { error: 'invalid_grant', error_description: err.message });
    return refuse(res, { error: 'invalid_request', error_description: err.message });
  }
  return { body };
}
