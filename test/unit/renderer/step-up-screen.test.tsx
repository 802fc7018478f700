// @vitest-environment happy-dom
import { cleanup, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { StepUpResult } from '../../../main/shared/ipc-contract.js';
import { StepUpScreen } from '../../../renderer/src/screens/step-up-screen.js';
import { formatCountdown } from '../../../renderer/src/strings.js';
import { renderWith, replayApi } from './harness.js';

afterEach(cleanup);

describe('Step-up screen', () => {
  it('says why, what is asked and how long is left; accepting settles the request', async () => {
    const { api, backend } = replayApi('darwin-mostly-compliant');
    const resolved = new Promise<StepUpResult>((resolve) => backend.subscribe((m) => m.event === 'stepUp.resolved' && resolve(m.payload)));
    const request = backend.requestStepUp({ reason: 'Payroll needs a fresh sign-in', acr_values: 'phr mfa', max_age: 600, resource: 'https://payroll.example.com', ttlSeconds: 120 });
    const now = () => new Date(request.deadline).getTime() - 65_000;
    renderWith(api, <StepUpScreen request={request} result={null} now={now} />);
    expect(screen.getByText('Payroll needs a fresh sign-in')).toBeInTheDocument();
    expect(screen.getByText(/phishing-resistant \(passkey or security key\) \[phr\] or two-factor \[mfa\]/)).toBeInTheDocument();
    expect(screen.getByText('A sign-in no older than 10 minutes')).toBeInTheDocument();
    expect(screen.getByText('https://payroll.example.com')).toBeInTheDocument();
    expect(screen.getByRole('timer')).toHaveTextContent('Expires in 1:05');
    await userEvent.click(screen.getByRole('button', { name: 'Continue and sign in' }));
    expect(await resolved).toEqual({ id: request.id, outcome: 'accepted' });
    expect(await screen.findByText('Thanks. Ward is signing you in again.')).toBeInTheDocument();
    await backend.close();
  });

  it('declines on request', async () => {
    const { api, backend } = replayApi('darwin-mostly-compliant');
    const request = backend.requestStepUp({ reason: 'VPN', ttlSeconds: 60 });
    renderWith(api, <StepUpScreen request={request} result={null} />);
    expect(screen.getByText('A fresh sign-in with your company account')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Not now' }));
    expect(await screen.findByText(/You declined/)).toBeInTheDocument();
    expect((await api.session.status()).pendingStepUp).toBeNull();
    await backend.close();
  });

  it('disables both answers once the deadline passed', async () => {
    const { api, backend } = replayApi('darwin-mostly-compliant');
    const request = backend.requestStepUp({ reason: 'late', ttlSeconds: 60 });
    renderWith(api, <StepUpScreen request={request} result={null} now={() => new Date(request.deadline).getTime() + 1} />);
    expect(screen.getByRole('timer')).toHaveTextContent('This request expired.');
    expect(screen.getByRole('button', { name: 'Continue and sign in' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Not now' })).toBeDisabled();
    await backend.close();
  });

  it('says so when nothing is pending', async () => {
    const { api, backend } = replayApi('darwin-mostly-compliant');
    renderWith(api, <StepUpScreen request={null} result={null} />);
    expect(screen.getByText('Nothing is waiting for your confirmation.')).toBeInTheDocument();
    await backend.close();
  });

  it('formats the countdown as m:ss and never below zero', () => {
    expect(formatCountdown(65_000)).toBe('1:05');
    expect(formatCountdown(-5)).toBe('0:00');
    expect(formatCountdown(599)).toBe('0:01');
  });
});

