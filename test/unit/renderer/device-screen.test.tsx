// @vitest-environment happy-dom
import { cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceScreen } from '../../../renderer/src/screens/device-screen.js';
import { renderWith, replayApi } from './harness.js';

afterEach(cleanup);

describe('Device screen', () => {
  it('shows identity, key store and the assurance level said out loud, plus the OS', async () => {
    const { api, backend } = replayApi('darwin-mostly-compliant');
    const posture = await api.posture.snapshot();
    renderWith(api, <DeviceScreen posture={posture} />);
    expect(await screen.findByText('None: this device holds no key yet')).toBeInTheDocument();
    expect(screen.getByText('No device key yet')).toBeInTheDocument();
    expect(screen.getByText('Enrolled').nextSibling).toHaveTextContent('No');
    const os = posture.snapshot?.device.os;
    expect(screen.getByText(`${os?.name} ${os?.version} (${os?.arch})`)).toBeInTheDocument();
    await backend.close();
  });
});
