import pkg from '../../package.json' with { type: 'json' };

/** Ward's own version, from package.json (also what the agent-version check reports). */
export const AGENT_VERSION: string = pkg.version;
export const AGENT_NAME = 'ward';
