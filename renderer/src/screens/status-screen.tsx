import { useState } from 'react';
import type { PostureView } from '../../../main/shared/ipc-contract.js';
import { ErrorNotice, ScreenHeading, toShownError, type ShownError } from '../api-context.js';
import { formatTime, strings } from '../strings.js';
import { observedRows, sortChecks, verdictOf } from '../verdict.js';

type Check = NonNullable<PostureView['snapshot']>['checks'][number];
const s = strings.status;

export interface StatusScreenProps {
  readonly view: PostureView | undefined;
  readonly error: ShownError | undefined;
  readonly onRecheck: (checkIds?: string[]) => Promise<unknown>;
}

function VerdictBanner({ view }: { view: PostureView | undefined }) {
  const verdict = verdictOf(view);
  const text =
    verdict.kind === 'checking'
      ? s.verdict.checking
      : verdict.kind === 'compliant'
        ? s.verdict.compliant
        : verdict.kind === 'attention'
          ? s.verdict.attention(verdict.failing)
          : s.verdict.incomplete(verdict.incomplete);
  return (
    <div className={`verdict verdict-${verdict.kind}`} data-testid="verdict">
      <span className="verdict-icon" aria-hidden="true">
        {verdict.kind === 'compliant' ? '✓' : verdict.kind === 'checking' ? '…' : '!'}
      </span>
      <p className="verdict-text">{text}</p>
    </div>
  );
}

function CheckItem({ check, expected, onRecheck, isBusy }: { check: Check; expected: string | undefined; onRecheck: () => void; isBusy: boolean }) {
  const rows = observedRows(check.observed);
  const headingId = `check-${check.id}`;
  return (
    <li className={`check check-${check.status}`} aria-labelledby={headingId} data-check={check.id}>
      <div className="check-head">
        <h3 id={headingId} className="check-title">
          {check.title}
        </h3>
        <span className={`badge badge-${check.status}`}>
          <span aria-hidden="true">{check.status === 'pass' ? '✓ ' : check.status === 'fail' ? '✕ ' : '• '}</span>
          {s.checkStatus[check.status]}
        </span>
        <button type="button" className="button button-small" onClick={onRecheck} disabled={isBusy} aria-label={s.recheckOne(check.title)}>
          {s.recheck}
        </button>
      </div>
      <p className="check-reason">{check.reason}</p>
      <div className="compare">
        <div>
          <h4>{s.observed}</h4>
          {rows.length === 0 ? (
            <p className="muted">{s.nothingObserved}</p>
          ) : (
            <dl className="observed">
              {rows.map(([key, value]) => (
                <div key={key}>
                  <dt>{key}</dt>
                  <dd>
                    {value.length === 1 ? (
                      <code>{value[0]}</code>
                    ) : (
                      <ul className="observed-items">
                        {value.map((item, i) => (
                          <li key={i}>
                            <code>{item}</code>
                          </li>
                        ))}
                      </ul>
                    )}
                  </dd>
                </div>
              ))}
            </dl>
          )}
        </div>
        <div>
          <h4>{s.expected}</h4>
          <p>{expected ?? '—'}</p>
        </div>
      </div>
      {check.remediation.length > 0 ? (
        <div className="fix">
          <h4>{s.fixSteps}</h4>
          <ol>
            {check.remediation.map((step) => (
              <li key={step}>{step}</li>
            ))}
          </ol>
        </div>
      ) : null}
    </li>
  );
}

export function StatusScreen({ view, error: loadError, onRecheck }: StatusScreenProps) {
  const [busy, setBusy] = useState<'all' | string | null>(null);
  const [error, setError] = useState<ShownError>();
  const expectations = new Map(view?.expectations.map((e) => [e.id, e.expected]));
  const snapshot = view?.snapshot;
  const isBusy = busy !== null || view?.isChecking === true;

  const recheck = (ids?: string[]) => {
    setBusy(ids?.[0] ?? 'all');
    setError(undefined);
    onRecheck(ids)
      .catch((err: unknown) => setError(toShownError(err)))
      .finally(() => setBusy(null));
  };

  return (
    <section aria-labelledby="status-title" className="screen">
      <div className="screen-head">
        <ScreenHeading id="status-title">{s.title}</ScreenHeading>
        <button type="button" className="button button-primary" onClick={() => recheck()} disabled={isBusy}>
          {isBusy ? s.rechecking : s.recheckAll}
        </button>
      </div>
      <VerdictBanner view={view} />
      {loadError ? <ErrorNotice error={loadError} /> : null}
      {error ? <ErrorNotice error={error} /> : null}
      {snapshot ? (
        <>
          <dl className="facts facts-inline">
            <div className="fact">
              <dt>{s.lastChecked}</dt>
              <dd>
                <time dateTime={snapshot.takenAt}>{formatTime(snapshot.takenAt)}</time>
              </dd>
            </div>
            <div className="fact">
              <dt>{s.lastReported}</dt>
              <dd>{view?.lastReportedAt ? <time dateTime={view.lastReportedAt}>{formatTime(view.lastReportedAt)}</time> : s.neverReported}</dd>
            </div>
          </dl>
          <h2 className="section-title">{s.checksHeading}</h2>
          <ul className="checks">
            {sortChecks(snapshot.checks).map((check) => (
              <CheckItem
                key={check.id}
                check={check}
                expected={expectations.get(check.id)}
                isBusy={isBusy}
                onRecheck={() => recheck([check.id])}
              />
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}
