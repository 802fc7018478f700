// @vitest-environment happy-dom
import { cleanup, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_VERSION } from '../../../main/core/version.js';
import { AboutScreen } from '../../../renderer/src/screens/about-screen.js';
import { renderWith, replayApi } from './harness.js';

afterEach(cleanup);

describe('About screen', () => {
  it('shows the version, where Ward runs and the update state', async () => {
    const { api, backend } = replayApi('darwin-mostly-compliant');
    renderWith(api, <AboutScreen />);
    expect(await screen.findByText(`Ward ${AGENT_VERSION}`)).toBeInTheDocument();
    expect(screen.getByText('darwin')).toBeInTheDocument();
    expect(screen.getByText('Local web page')).toBeInTheDocument();
    expect(screen.getByText(/Not managed by this copy/)).toBeInTheDocument();
    await backend.close();
  });
});
