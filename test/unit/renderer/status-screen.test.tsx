// @vitest-environment happy-dom
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../../renderer/src/app.js';
import { replayApi } from './harness.js';

afterEach(cleanup);

describe('Status screen', () => {
  it('shows the verdict, each failing check with observed, expected and this OS’s fix steps', async () => {
    const { api, backend } = replayApi('win32-noncompliant');
    window.location.hash = '#/status';
    render(<App api={api} />);
    expect(await screen.findByText(/checks? needs? your attention/, {}, { timeout: 10_000 })).toBeInTheDocument();
    const snapshot = (await api.posture.snapshot()).snapshot;
    const failing = snapshot?.checks.filter((c) => c.status === 'fail') ?? [];
    expect(failing.length).toBeGreaterThan(0);
    const first = failing[0];
    if (!first) throw new Error('no failing check');
    const item = screen.getByRole('listitem', { name: first.title });
    expect(within(item).getByText('Failing')).toBeInTheDocument();
    expect(within(item).getByText('Observed')).toBeInTheDocument();
    expect(within(item).getByText('Expected')).toBeInTheDocument();
    expect(within(item).getByRole('heading', { name: 'How to fix it' })).toBeInTheDocument();
    for (const step of first.remediation) expect(within(item).getByText(step)).toBeInTheDocument();
    // Failing checks come first.
    expect(screen.getAllByRole('listitem').find((li) => li.classList.contains('check'))).toHaveClass('check-fail');
    expect(screen.getByText('Last checked')).toBeInTheDocument();
    expect(screen.getByText('Not reported (this device is not signed in)')).toBeInTheDocument();
    await backend.close();
  });

  it('rechecks one check from its button and announces the new status politely', async () => {
    const { api, backend } = replayApi('win32-noncompliant');
    render(<App api={api} />);
    const button = await screen.findByRole('button', { name: 'Recheck Firewall' }, { timeout: 10_000 });
    const before = (await api.posture.snapshot()).snapshot?.takenAt;
    await userEvent.click(button);
    await waitFor(async () => expect((await api.posture.snapshot()).snapshot?.takenAt).not.toBe(before));
    const live = screen.getByTestId('announcer');
    expect(live).toHaveAttribute('aria-live', 'polite');
    await waitFor(() => expect(live).toHaveTextContent(/Status updated: \d+ of \d+ checks pass/));
    await backend.close();
  });

  it('has landmarks, a labelled navigation and marks the current page', async () => {
    const { api, backend } = replayApi('darwin-mostly-compliant');
    render(<App api={api} />);
    expect(screen.getByRole('main')).toBeInTheDocument();
    expect(screen.getByRole('banner')).toBeInTheDocument();
    const nav = screen.getByRole('navigation', { name: 'Ward sections' });
    expect(within(nav).getByRole('link', { name: 'Status' })).toHaveAttribute('aria-current', 'page');
    await userEvent.click(within(nav).getByRole('link', { name: 'About' }));
    expect(within(nav).getByRole('link', { name: 'About' })).toHaveAttribute('aria-current', 'page');
    await waitFor(() => expect(screen.getByRole('heading', { level: 1, name: 'About Ward' })).toHaveFocus());
    await backend.close();
  });
});
