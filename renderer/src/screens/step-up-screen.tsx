import { useEffect, useState } from 'react';
import type { StepUpRequest, StepUpResult } from '../../../main/shared/ipc-contract.js';
import { ErrorNotice, Facts, ScreenHeading, toShownError, useApi, type ShownError } from '../api-context.js';
import { formatCountdown, sentence, strings } from '../strings.js';

const s = strings.stepUp;

export interface StepUpScreenProps {
  readonly request: StepUpRequest | null;
  /** The last settled request's outcome, shown after the prompt closes. */
  readonly result: StepUpResult | null;
  readonly now?: () => number;
}

/** Remaining time until the deadline, ticking every second while a request is open. */
function useRemainingMs(deadline: string | undefined, now: () => number): number {
  const [at, setAt] = useState(now);
  useEffect(() => {
    if (!deadline) return;
    setAt(now());
    const timer = setInterval(() => setAt(now()), 1000);
    return () => clearInterval(timer);
  }, [deadline, now]);
  return deadline ? new Date(deadline).getTime() - at : 0;
}

export function StepUpScreen({ request, result, now = Date.now }: StepUpScreenProps) {
  const api = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ShownError>();
  const [answered, setAnswered] = useState<StepUpResult | null>(null);
  const remainingMs = useRemainingMs(request?.deadline, now);
  const isExpired = request !== null && remainingMs <= 0;
  const shown = answered ?? result;

  const decide = (decision: 'accept' | 'decline') => {
    if (!request) return;
    setBusy(true);
    setError(undefined);
    api.session
      .stepUp({ id: request.id, decision })
      .then(setAnswered, (err: unknown) => setError(toShownError(err)))
      .finally(() => setBusy(false));
  };

  const asked = request
    ? [
        ...(request.acr_values ? [s.acr(request.acr_values)] : []),
        ...(request.max_age !== undefined ? [s.maxAge(request.max_age)] : []),
        ...(!request.acr_values && request.max_age === undefined ? [s.fresh] : []),
      ]
    : [];

  return (
    <section aria-labelledby="step-up-title" className="screen">
      <ScreenHeading id="step-up-title">{s.title}</ScreenHeading>
      {error ? <ErrorNotice error={error} /> : null}
      {shown && (!request || shown.id === request.id) ? (
        <p className={`notice notice-${shown.outcome === 'accepted' ? 'ok' : 'info'}`} role="status">
          {s.outcome[shown.outcome]}
          {shown.message ? ` ${shown.message}` : ''}
        </p>
      ) : null}
      {request && !(answered && answered.id === request.id) ? (
        <div className="card step-up" data-testid="step-up-request">
          <Facts
            rows={[
              [s.why, sentence(request.reason)],
              [
                s.asked,
                <ul className="plain" key="asked">
                  {asked.map((a) => (
                    <li key={a}>{a}</li>
                  ))}
                </ul>,
              ],
              ...(request.resource ? ([[s.resource, request.resource]] as const) : []),
            ]}
          />
          <p className={`countdown${isExpired ? ' countdown-expired' : ''}`} role="timer" aria-live="off">
            {isExpired ? s.expired : s.expiresIn(formatCountdown(remainingMs))}
          </p>
          <div className="actions">
            <button type="button" className="button button-primary" onClick={() => decide('accept')} disabled={busy || isExpired}>
              {s.accept}
            </button>
            <button type="button" className="button" onClick={() => decide('decline')} disabled={busy || isExpired}>
              {s.decline}
            </button>
          </div>
        </div>
      ) : !shown ? (
        <p className="muted">{s.none}</p>
      ) : null}
    </section>
  );
}
