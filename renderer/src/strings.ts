import type { AgentState, Assurance, SignInProgress } from '../../main/shared/ipc-contract.js';

type CheckStatus = 'pass' | 'fail' | 'unknown' | 'unsupported' | 'error';

/** Every string the UI shows, in one place (translation starts here). */
export const strings = {
  appName: 'Ward',
  skipToContent: 'Skip to content',
  nav: {
    label: 'Ward sections',
    status: 'Status',
    stepUp: 'Step-up',
    signIn: 'Sign in',
    device: 'Device',
    settings: 'Settings',
    about: 'About',
  },
  loading: 'Loading…',
  retry: 'Try again',
  errorTitle: 'Ward could not answer',
  agentState: {
    unenrolled: 'Not enrolled',
    enrolled: 'Enrolled, signed out',
    'signed-in': 'Signed in',
    compliant: 'Compliant',
    'non-compliant': 'Access blocked',
    'step-up-required': 'Confirmation needed',
    revoked: 'Access revoked',
    offline: 'Offline',
  } satisfies Record<AgentState, string>,
  status: {
    title: 'Device status',
    verdict: {
      checking: 'Checking your device…',
      compliant: 'Your device meets every requirement',
      attention: (n: number) => (n === 1 ? '1 check needs your attention' : `${n} checks need your attention`),
      incomplete: (n: number) => (n === 1 ? '1 check could not finish' : `${n} checks could not finish`),
    },
    lastChecked: 'Last checked',
    lastReported: 'Last reported to your company',
    neverReported: 'Not reported (this device is not signed in)',
    recheckAll: 'Recheck all',
    rechecking: 'Rechecking…',
    recheckOne: (title: string) => `Recheck ${title}`,
    recheck: 'Recheck',
    observed: 'Observed',
    expected: 'Expected',
    nothingObserved: 'Nothing observed',
    fixSteps: 'How to fix it',
    checksHeading: 'Checks',
    announceChanged: (passing: number, total: number) => `Status updated: ${passing} of ${total} checks pass.`,
    checkStatus: {
      pass: 'Passing',
      fail: 'Failing',
      unknown: 'Unknown',
      unsupported: 'Not available here',
      error: 'Could not check',
    } satisfies Record<CheckStatus, string>,
  },
  stepUp: {
    title: 'Confirm it is you',
    none: 'Nothing is waiting for your confirmation.',
    why: 'Why',
    asked: 'What is asked',
    resource: 'Requested by',
    acr: (values: string) => `A sign-in of strength: ${values.split(' ').filter(Boolean).map(acrName).join(' or ')}`,
    maxAge: (seconds: number) => `A sign-in no older than ${formatDuration(seconds)}`,
    fresh: 'A fresh sign-in with your company account',
    expiresIn: (text: string) => `Expires in ${text}`,
    expired: 'This request expired.',
    accept: 'Continue and sign in',
    decline: 'Not now',
    outcome: {
      accepted: 'Thanks. Ward is signing you in again.',
      declined: 'You declined. The resource stays locked until you confirm.',
      expired: 'The request expired before you answered.',
      failed: 'Signing in again failed.',
      'unknown-request': 'This request is no longer pending.',
    },
  },
  signIn: {
    title: 'Sign in and enroll',
    broker: 'Your company broker',
    noBroker: 'No broker is configured. IT sets it in the managed configuration.',
    brokerSource: { 'managed-config': 'Set by IT', 'user-config': 'Set on this device', embedded: 'Built-in demo broker' },
    state: 'Current state',
    signedInAs: 'Signed in as',
    signIn: 'Sign in',
    signOut: 'Sign out',
    progressHeading: 'Progress',
    deviceCode: (code: string) => `Enter the code ${code} at`,
    stage: {
      idle: 'Not started',
      enrolling: 'Enrolling this device',
      'opening-browser': 'Opening your browser',
      'waiting-for-browser': 'Waiting for you to finish in the browser',
      exchanging: 'Getting device-bound tokens',
      done: 'Signed in',
      failed: 'Sign-in failed',
    } satisfies Record<SignInProgress['stage'], string>,
  },
  device: {
    title: 'This device',
    enrolled: 'Enrolled',
    yes: 'Yes',
    no: 'No',
    deviceId: 'Device id',
    keyStore: 'Key store',
    assurance: 'Assurance level',
    thumbprint: 'Key thumbprint (RFC 7638)',
    enrolledAt: 'Enrolled on',
    hostname: 'Name',
    os: 'Operating system',
    hardware: 'Hardware',
    none: 'None',
    keyStoreKind: {
      tpm: 'TPM 2.0',
      'secure-enclave': 'Secure Enclave',
      cng: 'Windows CNG (TPM)',
      'os-keychain': 'OS keychain (software key)',
      memory: 'In memory (tests only)',
      none: 'No device key yet',
    },
    assuranceLevel: {
      hardware: 'Hardware: the key cannot leave this device',
      'os-keychain': 'OS keychain: a software key sealed in your keychain (lower assurance)',
      none: 'None: this device holds no key yet',
    } satisfies Record<Assurance, string>,
    assuranceNoneEnrolled: 'None: the device key has neither hardware nor keychain protection',
  },
  settings: {
    title: 'Settings',
    launchAtLogin: 'Start Ward when I log in',
    launchAtLoginUnsupported: 'Only the desktop app can start at login.',
    notificationsHeading: 'Notifications',
    notifyStepUp: 'When I need to confirm it is me',
    notifyCompliance: 'When my device falls out of (or back into) compliance',
    saved: 'Saved',
    saving: 'Saving…',
  },
  about: {
    title: 'About Ward',
    version: 'Version',
    platform: 'Platform',
    shell: 'Running as',
    shellKind: { electron: 'Desktop app', web: 'Local web page' },
    electron: 'Electron',
    updates: 'Updates',
    updateState: {
      unsupported: 'Not managed by this copy',
      idle: 'Idle',
      checking: 'Checking for updates…',
      available: 'An update is available',
      downloading: 'Downloading an update…',
      downloaded: 'An update is ready: restart Ward to apply it',
      'up-to-date': 'Up to date',
      error: 'The update check failed',
    },
    license: 'Open source under the Apache License 2.0.',
  },
} as const;

/** Common `acr_values` in words (the raw value stays visible for anything else). */
const ACR_NAMES: Readonly<Record<string, string>> = {
  phr: 'phishing-resistant (passkey or security key)',
  phrh: 'phishing-resistant hardware key',
  mfa: 'two-factor',
  pwd: 'password',
  'urn:ward:acr:mfa': 'two-factor',
  'urn:ward:acr:phr': 'phishing-resistant (passkey or security key)',
};

function acrName(value: string): string {
  return Object.hasOwn(ACR_NAMES, value) ? `${ACR_NAMES[value]} [${value}]` : value;
}

/** "90 seconds", "5 minutes", "2 hours" — for max_age. */
export function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} seconds`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds / 3600)} hours`;
}

/** "1:05" — for the step-up countdown. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

/** Brokers write reasons in lower case ("a different authentication level is required"). */
export function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}
