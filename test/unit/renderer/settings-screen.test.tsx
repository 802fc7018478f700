// @vitest-environment happy-dom
import { cleanup, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { SettingsScreen } from '../../../renderer/src/screens/settings-screen.js';
import { renderWith, replayApi } from './harness.js';

afterEach(cleanup);

describe('Settings screen', () => {
  it('saves notification choices and explains why launch at login is unavailable here', async () => {
    const { api, backend } = replayApi('win32-mostly-compliant');
    renderWith(api, <SettingsScreen />);
    const compliance = await screen.findByLabelText('When my device falls out of (or back into) compliance');
    expect(compliance).toBeChecked();
    await userEvent.click(compliance);
    await waitFor(() => expect(screen.getByRole('status')).toHaveTextContent('Saved'));
    expect((await api.settings.get()).values.notifications.complianceChanges).toBe(false);
    expect(screen.getByLabelText('When my device falls out of (or back into) compliance')).not.toBeChecked();
    const login = screen.getByLabelText('Start Ward when I log in');
    expect(login).toBeDisabled();
    expect(login).toHaveAccessibleDescription('Only the desktop app can start at login.');
    expect(screen.getByRole('group', { name: 'Notifications' })).toBeInTheDocument();
    await backend.close();
  });
});
