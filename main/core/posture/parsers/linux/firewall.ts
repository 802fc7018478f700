/** ufw.conf: `ENABLED=yes|no` (ufw(8)); null when the file does not say. */
export function parseUfwConf(text: string): { enabled: boolean | null } {
  const m = /^\s*ENABLED\s*=\s*"?(yes|no)"?\s*$/im.exec(text);
  return { enabled: m ? m[1]?.toLowerCase() === 'yes' : null };
}

/** `ufw status verbose`: active or not, and the default incoming policy when shown. */
export function parseUfwStatus(output: string): { active: boolean | null; defaultIncoming: string | null } {
  const status = /^Status:\s*(active|inactive)/im.exec(output);
  const incoming = /^Default:\s*(\w+)\s*\(incoming\)/im.exec(output);
  return {
    active: status ? status[1]?.toLowerCase() === 'active' : null,
    defaultIncoming: incoming?.[1]?.toLowerCase() ?? null,
  };
}

export interface NftInputChain {
  readonly table: string;
  readonly chain: string;
  readonly policy: 'accept' | 'drop';
  /** The chain ends in an unconditional `drop` or `reject` rule. */
  readonly endsInDrop: boolean;
}

/**
 * Base chains on the input hook in `nft list ruleset` (nft(8)): `type filter hook input priority
 * P; policy drop;`. An empty ruleset (no tables) gives an empty list.
 */
export function parseNftRuleset(output: string): NftInputChain[] {
  const chains: NftInputChain[] = [];
  let table = '';
  let chain: { name: string; isInput: boolean; policy: 'accept' | 'drop'; last: string } | undefined;
  const finish = (): void => {
    if (chain?.isInput) {
      chains.push({ table, chain: chain.name, policy: chain.policy, endsInDrop: /^(?:counter(?: packets \d+ bytes \d+)? )?(drop|reject)(?: with .*)?$/.test(chain.last) });
    }
    chain = undefined;
  };
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    const t = /^table (\S+ \S+|\S+) \{$/.exec(line);
    if (t) {
      table = t[1] ?? '';
      continue;
    }
    const c = /^chain (\S+) \{$/.exec(line);
    if (c) {
      finish();
      chain = { name: c[1] ?? '', isInput: false, policy: 'accept', last: '' };
      continue;
    }
    if (!chain) continue;
    if (line === '}') {
      finish();
      continue;
    }
    const hook = /^type filter hook input\b.*?(?:policy (accept|drop);)?$/.exec(line);
    if (hook) {
      chain.isInput = true;
      chain.policy = hook[1] === 'drop' ? 'drop' : 'accept';
      continue;
    }
    if (line && !line.startsWith('#')) chain.last = line.replace(/\s+comment ".*"$/, '');
  }
  finish();
  return chains;
}

/** `iptables -S INPUT` (or `-S`): the INPUT policy, and whether INPUT ends in an unconditional DROP/REJECT. */
export function parseIptablesInput(output: string): { policy: string | null; endsInDrop: boolean; ruleCount: number } {
  let policy: string | null = null;
  let last = '';
  let ruleCount = 0;
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    const p = /^-P INPUT (\S+)$/.exec(line);
    if (p) policy = p[1] ?? null;
    if (line.startsWith('-A INPUT ')) {
      last = line;
      ruleCount++;
    }
  }
  return { policy, endsInDrop: /^-A INPUT -j (DROP|REJECT)\b/.test(last), ruleCount };
}
