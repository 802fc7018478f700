import type { IdentityInfo, PostureView, WardApi } from '../../../main/shared/ipc-contract.js';
import { ErrorNotice, Facts, ScreenHeading, useLoad } from '../api-context.js';
import { formatTime, strings } from '../strings.js';

const s = strings.device;
const loadIdentity = (api: WardApi): Promise<IdentityInfo> => api.identity.info();

export function DeviceScreen({ posture }: { posture: PostureView | undefined }) {
  const identity = useLoad(loadIdentity);
  const info = identity.value;
  const device = posture?.snapshot?.device;
  const hardware = device ? [device.hardware.vendor, device.hardware.model].filter(Boolean).join(' ') : '';
  return (
    <section aria-labelledby="device-title" className="screen">
      <ScreenHeading id="device-title">{s.title}</ScreenHeading>
      {identity.error ? <ErrorNotice error={identity.error} onRetry={identity.reload} /> : null}
      {info ? (
        <div className="card">
          <Facts
            rows={[
              [s.hostname, info.hostname ?? device?.hostname ?? s.none],
              [s.enrolled, info.isEnrolled ? s.yes : s.no],
              [s.deviceId, info.deviceId ? <code key="id">{info.deviceId}</code> : s.none],
              [s.keyStore, `${s.keyStoreKind[info.keyStore.kind]}${info.keyStore.label ? ` (${info.keyStore.label})` : ''}`],
              [
                s.assurance,
                <span key="a" className={`assurance assurance-${info.assurance}`}>
                  {info.assurance === 'none' && info.isEnrolled ? s.assuranceNoneEnrolled : s.assuranceLevel[info.assurance]}
                </span>,
              ],
              [s.thumbprint, info.keyThumbprint ? <code key="t" className="wrap">{info.keyThumbprint}</code> : s.none],
              [s.enrolledAt, info.enrolledAt ? formatTime(info.enrolledAt) : s.none],
              ...(device
                ? ([
                    [s.os, `${device.os.name} ${device.os.version} (${device.os.arch})`],
                    [s.hardware, hardware || s.none],
                  ] as const)
                : []),
            ]}
          />
        </div>
      ) : !identity.error ? (
        <p className="muted">{strings.loading}</p>
      ) : null}
    </section>
  );
}
