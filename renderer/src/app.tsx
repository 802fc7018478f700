import { useCallback, useEffect, useRef, useState } from 'react';
import type { PostureView, SessionStatus, SignInProgress, StepUpRequest, StepUpResult, WardApi } from '../../main/shared/ipc-contract.js';
import { ApiProvider, toShownError, type ShownError } from './api-context.js';
import { AboutScreen } from './screens/about-screen.js';
import { DeviceScreen } from './screens/device-screen.js';
import { SettingsScreen } from './screens/settings-screen.js';
import { SignInScreen } from './screens/sign-in-screen.js';
import { StatusScreen } from './screens/status-screen.js';
import { StepUpScreen } from './screens/step-up-screen.js';
import { strings } from './strings.js';
import { verdictOf } from './verdict.js';

export const ROUTES = ['status', 'step-up', 'sign-in', 'device', 'settings', 'about'] as const;
export type Route = (typeof ROUTES)[number];

export function routeFromHash(hash: string): Route {
  const name = hash.replace(/^#\/?/, '');
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : 'status';
}

function useHashRoute(): [Route, (route: Route) => void] {
  const [route, setRoute] = useState<Route>(() => routeFromHash(window.location.hash));
  useEffect(() => {
    const onHash = () => setRoute(routeFromHash(window.location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const go = useCallback((next: Route) => {
    window.location.hash = `#/${next}`;
    setRoute(next);
  }, []);
  return [route, go];
}

/** Live state shared by the screens: posture, session, step-up; kept current by push events. */
function useWardState(api: WardApi, go: (route: Route) => void) {
  const [posture, setPosture] = useState<PostureView>();
  const [postureError, setPostureError] = useState<ShownError>();
  const [session, setSession] = useState<SessionStatus>();
  const [progress, setProgress] = useState<SignInProgress>();
  const [stepUp, setStepUp] = useState<StepUpRequest | null>(null);
  const [stepUpResult, setStepUpResult] = useState<StepUpResult | null>(null);

  const refreshSession = useCallback(() => {
    api.session.status().then((status) => {
      setSession(status);
      setStepUp(status.pendingStepUp);
    }, () => undefined);
  }, [api]);

  useEffect(() => {
    api.posture.snapshot().then(setPosture, (err: unknown) => setPostureError(toShownError(err)));
    refreshSession();
    const offs = [
      api.on('posture.changed', (view) => {
        setPosture(view);
        setPostureError(undefined);
      }),
      api.on('agent.state', () => refreshSession()),
      api.on('signIn.progress', setProgress),
      api.on('stepUp.requested', (request) => {
        setStepUp(request);
        setStepUpResult(null);
        go('step-up');
      }),
      api.on('stepUp.resolved', (result) => {
        setStepUp((current) => (current?.id === result.id ? null : current));
        setStepUpResult(result);
      }),
    ];
    return () => offs.forEach((off) => off());
  }, [api, go, refreshSession]);

  const recheck = useCallback(
    (checkIds?: string[]) => api.posture.recheck(checkIds ? { checkIds } : {}).then(setPosture),
    [api],
  );
  return { posture, postureError, session, setSession, progress, stepUp, stepUpResult, recheck };
}

function announcement(posture: PostureView | undefined): string {
  const verdict = verdictOf(posture);
  return verdict.kind === 'checking' ? '' : strings.status.announceChanged(verdict.passing, verdict.total);
}

function Shell({ api }: { api: WardApi }) {
  const [route, go] = useHashRoute();
  const state = useWardState(api, go);
  const isFirstRoute = useRef(true);
  const mainRef = useRef<HTMLElement>(null);

  useEffect(() => {
    // Move focus to the new screen's heading (not on first load: the page itself has focus then).
    if (isFirstRoute.current) {
      isFirstRoute.current = false;
      return;
    }
    mainRef.current?.querySelector<HTMLElement>('[data-screen-heading]')?.focus();
  }, [route]);

  const verdict = verdictOf(state.posture);
  const links: { route: Route; label: string; badge?: boolean }[] = [
    { route: 'status', label: strings.nav.status, badge: verdict.kind === 'attention' },
    ...(state.stepUp ? [{ route: 'step-up' as const, label: strings.nav.stepUp, badge: true }] : []),
    { route: 'sign-in', label: strings.nav.signIn },
    { route: 'device', label: strings.nav.device },
    { route: 'settings', label: strings.nav.settings },
    { route: 'about', label: strings.nav.about },
  ];

  return (
    <>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); mainRef.current?.focus(); }}>
        {strings.skipToContent}
      </a>
      <header className="topbar">
        <span className="brand">
          <span className="brand-mark" aria-hidden="true">◆</span> {strings.appName}
        </span>
        {state.session ? <span className={`pill pill-${state.session.state}`}>{strings.agentState[state.session.state]}</span> : null}
      </header>
      <nav className="nav" aria-label={strings.nav.label}>
        <ul>
          {links.map((link) => (
            <li key={link.route}>
              <a
                href={`#/${link.route}`}
                aria-current={route === link.route ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  go(link.route);
                }}
              >
                {link.label}
                {link.badge ? <span className="dot" aria-hidden="true" /> : null}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" ref={mainRef} tabIndex={-1}>
        {route === 'status' ? <StatusScreen view={state.posture} error={state.postureError} onRecheck={state.recheck} /> : null}
        {route === 'step-up' ? <StepUpScreen request={state.stepUp} result={state.stepUpResult} /> : null}
        {route === 'sign-in' ? <SignInScreen status={state.session} progress={state.progress} onStatus={state.setSession} /> : null}
        {route === 'device' ? <DeviceScreen posture={state.posture} /> : null}
        {route === 'settings' ? <SettingsScreen /> : null}
        {route === 'about' ? <AboutScreen /> : null}
      </main>
      <div className="visually-hidden" aria-live="polite" role="status" data-testid="announcer">
        {announcement(state.posture)}
      </div>
    </>
  );
}

export function App({ api }: { api: WardApi }) {
  return (
    <ApiProvider api={api}>
      <Shell api={api} />
    </ApiProvider>
  );
}
