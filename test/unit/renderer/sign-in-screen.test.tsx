// @vitest-environment happy-dom
import { cleanup, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { SignInScreen } from '../../../renderer/src/screens/sign-in-screen.js';
import { renderWith, replayApi } from './harness.js';

afterEach(cleanup);

describe('Sign in / enroll screen', () => {
  it('names the broker IT configured and explains a refused sign-in with its hint', async () => {
    const { api, backend } = replayApi('win32-mostly-compliant', { broker: { url: 'https://access.example.com', name: 'Example Access', source: 'managed-config' } });
    const status = await api.session.status();
    renderWith(api, <SignInScreen status={status} progress={undefined} onStatus={() => undefined} />);
    expect(screen.getByText('https://access.example.com')).toBeInTheDocument();
    expect(screen.getByText('(Set by IT)')).toBeInTheDocument();
    expect(screen.getByText('Not enrolled')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent("This window runs Ward's posture checks without the agent, so it cannot sign in to Example Access.");
    expect(alert).toHaveTextContent('Run `ward start`');
    await backend.close();
  });

  it('shows sign-in progress, the current step marked for screen readers, and a device code', async () => {
    const { api, backend } = replayApi('win32-mostly-compliant');
    const status = await api.session.status();
    renderWith(
      api,
      <SignInScreen
        status={status}
        progress={{ stage: 'waiting-for-browser', verificationUri: 'https://idp.example.com/device', userCode: 'WDJB-MJHT' }}
        onStatus={() => undefined}
      />,
    );
    expect(screen.getByText('No broker is configured. IT sets it in the managed configuration.')).toBeInTheDocument();
    expect(screen.getByText('Waiting for you to finish in the browser')).toHaveAttribute('aria-current', 'step');
    expect(screen.getByText('Opening your browser')).toHaveClass('done');
    expect(screen.getByText(/Enter the code WDJB-MJHT at/)).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'https://idp.example.com/device' })).toHaveAttribute('rel', 'noreferrer noopener');
    await backend.close();
  });
});
