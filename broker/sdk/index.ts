/**
 * Ward's broker SDK: what an access broker embeds to trust, query and act on what a device says.
 *
 *  - enrollment: {@link verifyEnrollment} (a JWS signed by the new device key, `jwk` header), with
 *    {@link verifyTpmKeyAttestation} for a TPM2_Certify of a TPM key;
 *  - key rotation: {@link verifyKeyRotation} (signed by the new key, with a proof by the pinned old key);
 *  - challenges: {@link createChallenge}, {@link MemoryChallengeStore} (single-use nonces, TTL);
 *  - posture reports: {@link verifyPostureReport} → a typed verdict, one reason per fault;
 *  - policy: {@link evaluatePolicy} (the same module the agent evaluates with locally),
 *    {@link signPolicyBundle} / {@link verifyPolicyBundle};
 *  - Shared Signals: {@link buildSet} / {@link verifySet} (CAEP SETs), {@link pushSet} /
 *    {@link receivePushedSet} (RFC 8935), {@link pollSets} / {@link MemorySetQueue} (RFC 8936);
 *  - the report stream's wire protocol: {@link REPORT_STREAM_PATH}, {@link REPORT_STREAM_CLOSE},
 *    {@link reportStreamAnswerStatus} (posture reports over one WebSocket per agent).
 *
 * Verifiers never throw: they return `{ ok: true, … }` or a {@link Rejection} with a stable
 * `reason` and a `detail` that is safe to log.
 *
 * @example
 * ```ts
 * import { verifyPostureReport, evaluatePolicy, postureViewFromReport } from './broker/sdk/index.js';
 * const verdict = verifyPostureReport(jwt, { deviceKey, deviceId, lastSeq, maxAgeSeconds: 300 });
 * if (verdict.ok) evaluatePolicy(postureViewFromReport(verdict.report.claims), policy);
 * ```
 * @packageDocumentation
 */
export { REPORT_STREAM_CLOSE, REPORT_STREAM_PATH, reportStreamAnswerStatus } from './report-stream.js';
export { BrokerSdkError, reject, rejectionError, type BrokerSdkErrorCode, type Rejection } from './errors.js';
export {
  decodeVerifiedPayload,
  es256Signer,
  importDeviceKey,
  jwkThumbprint,
  parseCompactJws,
  parseJsonSegment,
  signCompactJws,
  verifyEs256,
  verifyWithKid,
  type DeviceKey,
  type JwsSigner,
  type ParsedJws,
  type PublicKeyInput,
  type VerificationKey,
} from './jws.js';
export {
  ENROLLMENT_TYP,
  EnrollmentClaimsSchema,
  verifyEnrollment,
  type EnrollmentClaims,
  type EnrollmentRejectReason,
  type EnrollmentVerdict,
  type KeyAttestation,
  type VerifiedEnrollment,
  type VerifyEnrollmentOptions,
} from './enrollment.js';
export {
  parseAttestationKey,
  parseCertifyAttest,
  verifyTpmKeyAttestation,
  type TpmAttestationRejectReason,
  type TpmAttestationVerdict,
  type TpmCertifyAttest,
  type VerifiedTpmAttestation,
  type VerifyTpmAttestationInput,
} from './tpm-attestation.js';
export { certifyQualifyingData, type CertifyBinding, type TpmKeyAttestation } from '../../main/core/identity/tpm-attestation.js';
export {
  isActivatedSecret,
  makeCredential,
  verifyEkCertificate,
  type EkCertificateRejectReason,
  type EkCertificateVerdict,
  type EkCredential,
  type EkTrust,
} from './ek-credential.js';
export {
  ROTATION_OLD_KEY_TYP,
  ROTATION_TYP,
  RotationClaimsSchema,
  verifyKeyRotation,
  type KeyRotationVerdict,
  type PinnedKeyResolver,
  type RotationClaims,
  type RotationRejectReason,
  type VerifiedKeyRotation,
  type VerifyKeyRotationOptions,
} from './rotation.js';
export {
  DEFAULT_CHALLENGE_TTL_SECONDS,
  MemoryChallengeStore,
  createChallenge,
  type Challenge,
  type ChallengeOptions,
  type ChallengeRejectReason,
  type ChallengeStore,
  type ChallengeVerdict,
  type MemoryChallengeStoreOptions,
} from './challenge.js';
export {
  ASSURANCE_LEVELS,
  AssuranceLevelSchema,
  CheckSubmodSchema,
  POSTURE_REPORT_TYP,
  PostureClaimSchema,
  PostureReportClaimsSchema,
  SUPPORTED_POSTURE_SCHEMA_VERSIONS,
  WARD_SWNAME,
  readPostureReportClaims,
  ueidForThumbprint,
  type CheckSubmod,
  type PostureClaim,
  type PostureReportClaims,
} from './report-claims.js';
export {
  postureViewFromReport,
  verifyPostureReport,
  type DeviceKeyResolver,
  type PostureRejectReason,
  type PostureReportVerdict,
  type VerifiedPostureReport,
  type VerifyPostureReportOptions,
} from './posture-report.js';
export {
  compareVersions,
  describeExpectation,
  evaluatePolicy,
  type EvaluateOptions,
  type PolicyDecision,
  type PolicyEvaluation,
  type PostureView,
  type RuleResult,
} from '../../main/core/policy/evaluate.js';
export {
  ExpectationSchema,
  FIELD_OPERATORS,
  POLICY_SCHEMA_VERSION,
  PolicyRuleSchema,
  PolicySchema,
  parsePolicy,
  type Expectation,
  type FieldOperator,
  type Policy,
  type PolicyInput,
  type PolicyRule,
} from '../../main/core/policy/schema.js';
export {
  POLICY_BUNDLE_TYP,
  PolicyBundleClaimsSchema,
  signPolicyBundle,
  verifyPolicyBundle,
  type PolicyBundleRejectReason,
  type PolicyBundleVerdict,
  type SignPolicyBundleOptions,
  type VerifiedPolicyBundle,
  type VerifyPolicyBundleOptions,
} from './policy-bundle.js';
export {
  CAEP_EVENT_TYPES,
  CaepEventSchemas,
  SET_TYP,
  SetClaimsSchema,
  SubjectIdSchema,
  buildSet,
  verifySet,
  type BuildSetInput,
  type CaepEventName,
  type CaepEventPayload,
  type SetClaims,
  type SetRejectReason,
  type SetVerdict,
  type SubjectId,
  type VerifiedSet,
  type VerifySetOptions,
} from './shared-signals/set.js';
export {
  SET_ERROR_CODES,
  SET_MEDIA_TYPE,
  pushError,
  pushSet,
  receivePushedSet,
  type PushOptions,
  type PushReceipt,
  type PushResult,
  type PushedRequest,
  type SetDeliveryErrorCode,
} from './shared-signals/push.js';
export {
  MemorySetQueue,
  PollRequestSchema,
  PollResponseSchema,
  SetErrorSchema,
  parsePollRequest,
  parsePollResponse,
  pollSets,
  type MemorySetQueueOptions,
  type PollOptions,
  type PollParseVerdict,
  type PollRequest,
  type PollResponse,
  type PollResult,
  type SetFetch,
  type SetQueueStore,
} from './shared-signals/poll.js';
