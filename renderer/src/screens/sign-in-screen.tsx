import { useState } from 'react';
import type { SessionStatus, SignInProgress } from '../../../main/shared/ipc-contract.js';
import { ErrorNotice, Facts, ScreenHeading, toShownError, useApi, type ShownError } from '../api-context.js';
import { strings } from '../strings.js';

const s = strings.signIn;
const STAGES: readonly SignInProgress['stage'][] = ['enrolling', 'opening-browser', 'waiting-for-browser', 'exchanging', 'done'];

export interface SignInScreenProps {
  readonly status: SessionStatus | undefined;
  readonly progress: SignInProgress | undefined;
  readonly onStatus: (status: SessionStatus) => void;
}

function isSignedIn(status: SessionStatus | undefined): boolean {
  return status?.user != null;
}

export function SignInScreen({ status, progress, onStatus }: SignInScreenProps) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError>();
  const current = progress ?? status?.signIn;

  const act = (action: () => Promise<SessionStatus>) => {
    setBusy(true);
    setError(undefined);
    action()
      .then(onStatus, (err: unknown) => setError(toShownError(err)))
      .finally(() => setBusy(false));
  };

  const reached = current ? STAGES.indexOf(current.stage) : -1;
  return (
    <section aria-labelledby="sign-in-title" className="screen">
      <ScreenHeading id="sign-in-title">{s.title}</ScreenHeading>
      <div className="card">
        <Facts
          rows={[
            [
              s.broker,
              status?.broker ? (
                <span>
                  {status.broker.name ? `${status.broker.name} — ` : ''}
                  <code>{status.broker.url}</code> <span className="muted">({s.brokerSource[status.broker.source]})</span>
                </span>
              ) : (
                s.noBroker
              ),
            ],
            [s.state, status ? strings.agentState[status.state] : strings.loading],
            ...(status?.user ? ([[s.signedInAs, status.user.email ?? status.user.name ?? status.user.subject]] as const) : []),
          ]}
        />
        <div className="actions">
          {isSignedIn(status) ? (
            <button type="button" className="button" disabled={busy} onClick={() => act(() => api.session.signOut())}>
              {s.signOut}
            </button>
          ) : (
            <button type="button" className="button button-primary" disabled={busy} onClick={() => act(() => api.session.signIn({ method: 'browser' }))}>
              {s.signIn}
            </button>
          )}
        </div>
      </div>
      {error ? <ErrorNotice error={error} /> : null}
      {current && current.stage !== 'idle' ? (
        <div className="card">
          <h2 className="section-title">{s.progressHeading}</h2>
          <ol className="progress" aria-live="polite">
            {STAGES.map((stage, i) => (
              <li key={stage} className={i < reached ? 'done' : i === reached ? 'current' : 'todo'} aria-current={i === reached ? 'step' : undefined}>
                {s.stage[stage]}
              </li>
            ))}
          </ol>
          {current.stage === 'failed' ? <p role="alert">{s.stage.failed}{current.message ? `: ${current.message}` : ''}</p> : null}
          {current.userCode && current.verificationUri ? (
            <p>
              {s.deviceCode(current.userCode)}{' '}
              <a href={current.verificationUri} target="_blank" rel="noreferrer noopener">
                {current.verificationUri}
              </a>
            </p>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
