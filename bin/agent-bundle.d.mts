// Types of bin/agent-bundle.mjs (plain JavaScript: the launcher loads it before any TS loader).
export declare const ROOT: string;
export declare const AGENT_DIST: string;
export declare const AGENT_ENTRY: string;
export declare const DAEMON_NODE_FLAGS: readonly string[];
export declare function freshAgentBundle(): string | undefined;
export declare function buildAgentBundle(): Promise<string>;
