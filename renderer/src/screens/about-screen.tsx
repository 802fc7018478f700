import type { AboutInfo, WardApi } from '../../../main/shared/ipc-contract.js';
import { ErrorNotice, Facts, ScreenHeading, useLoad } from '../api-context.js';
import { strings } from '../strings.js';

const s = strings.about;
const loadAbout = (api: WardApi): Promise<AboutInfo> => api.app.about();

export function AboutScreen() {
  const about = useLoad(loadAbout);
  const info = about.value;
  return (
    <section aria-labelledby="about-title" className="screen">
      <ScreenHeading id="about-title">{s.title}</ScreenHeading>
      {about.error ? <ErrorNotice error={about.error} onRetry={about.reload} /> : null}
      {info ? (
        <div className="card">
          <Facts
            rows={[
              [s.version, `${info.name} ${info.version}`],
              [s.platform, info.platform],
              [s.shell, s.shellKind[info.shell]],
              ...(info.electronVersion ? ([[s.electron, info.electronVersion]] as const) : []),
              [
                s.updates,
                `${s.updateState[info.update.state]}${info.update.availableVersion ? ` (${info.update.availableVersion})` : ''}${info.update.message ? ` — ${info.update.message}` : ''}`,
              ],
            ]}
          />
          <p className="muted">{s.license}</p>
        </div>
      ) : !about.error ? (
        <p className="muted">{strings.loading}</p>
      ) : null}
    </section>
  );
}
