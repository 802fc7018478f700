import { useId, useState } from 'react';
import type { SettingsPatch, SettingsView, WardApi } from '../../../main/shared/ipc-contract.js';
import { ErrorNotice, ScreenHeading, toShownError, useApi, useLoad, type ShownError } from '../api-context.js';
import { strings } from '../strings.js';

const s = strings.settings;
const loadSettings = (api: WardApi): Promise<SettingsView> => api.settings.get();

function Toggle({ label, checked, disabled, note, onChange }: { label: string; checked: boolean; disabled?: boolean; note?: string; onChange: (v: boolean) => void }) {
  const id = useId();
  return (
    <div className="toggle">
      <input id={id} type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} aria-describedby={note ? `${id}-note` : undefined} />
      <label htmlFor={id}>{label}</label>
      {note ? (
        <p id={`${id}-note`} className="muted toggle-note">
          {note}
        </p>
      ) : null}
    </div>
  );
}

export function SettingsScreen() {
  const api = useApi();
  const settings = useLoad(loadSettings);
  const [state, setState] = useState<'idle' | 'saving' | 'saved'>('idle');
  const [error, setError] = useState<ShownError>();
  const view = settings.value;

  const save = (patch: SettingsPatch) => {
    // Show the new value at once (a controlled checkbox would otherwise snap back until the agent
    // answers); the agent's answer replaces it, and a refusal restores what was there.
    const previous = view;
    if (previous) {
      settings.set({
        ...previous,
        values: {
          ...previous.values,
          ...(patch.launchAtLogin === undefined ? {} : { launchAtLogin: patch.launchAtLogin }),
          notifications: { ...previous.values.notifications, ...patch.notifications },
        },
      });
    }
    setState('saving');
    setError(undefined);
    api.settings.set(patch).then(
      (next) => {
        settings.set(next);
        setState('saved');
      },
      (err: unknown) => {
        if (previous) settings.set(previous);
        setError(toShownError(err));
        setState('idle');
      },
    );
  };

  return (
    <section aria-labelledby="settings-title" className="screen">
      <ScreenHeading id="settings-title">{s.title}</ScreenHeading>
      {settings.error ? <ErrorNotice error={settings.error} onRetry={settings.reload} /> : null}
      {error ? <ErrorNotice error={error} /> : null}
      {view ? (
        <form className="card" onSubmit={(e) => e.preventDefault()}>
          <Toggle
            label={s.launchAtLogin}
            checked={view.values.launchAtLogin}
            disabled={!view.isLaunchAtLoginSupported || state === 'saving'}
            {...(view.isLaunchAtLoginSupported ? {} : { note: s.launchAtLoginUnsupported })}
            onChange={(launchAtLogin) => save({ launchAtLogin })}
          />
          <fieldset>
            <legend>{s.notificationsHeading}</legend>
            <Toggle label={s.notifyStepUp} checked={view.values.notifications.stepUp} disabled={state === 'saving'} onChange={(stepUp) => save({ notifications: { stepUp } })} />
            <Toggle
              label={s.notifyCompliance}
              checked={view.values.notifications.complianceChanges}
              disabled={state === 'saving'}
              onChange={(complianceChanges) => save({ notifications: { complianceChanges } })}
            />
          </fieldset>
          <p className="muted" role="status">
            {state === 'saving' ? s.saving : state === 'saved' ? s.saved : ''}
          </p>
        </form>
      ) : !settings.error ? (
        <p className="muted">{strings.loading}</p>
      ) : null}
    </section>
  );
}
