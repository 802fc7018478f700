// Types of bin/agent-bundle.mjs (plain JavaScript: the launcher loads it before any TS loader).
export declare const ROOT: string;
export declare const AGENT_DIST: string;
export declare const AGENT_ENTRY: string;
export declare const DAEMON_NODE_FLAGS: readonly string[];
/** `dir` defaults to AGENT_DIST. */
export declare function freshAgentBundle(dir?: string): string | undefined;
export declare function buildAgentBundle(dir?: string): Promise<string>;
export declare const BROKER_DIST: string;
/** `dir` defaults to BROKER_DIST. */
export declare function freshBrokerBundle(dir?: string): string | undefined;
export declare function buildBrokerBundle(dir?: string): Promise<string>;
