import { describe, expect, it } from 'vitest';
import { parseIptablesInput, parseNftRuleset, parseUfwConf, parseUfwStatus } from '../../../../../main/core/posture/parsers/linux/firewall.js';
import { fixture, neverThrowsUntyped } from './fixture.js';

describe('parseNftRuleset', () => {
  it('finds the input chain with policy drop (real OpenSnitch fragment)', () => {
    const chains = parseNftRuleset(fixture('nft-list-ruleset--inet-filter-policy-drop-fragment.txt'));
    expect(chains).toEqual([{ table: 'inet filter', chain: 'input', policy: 'drop', endsInDrop: false }]);
  });
  it('finds no input chain in an empty ruleset (real capture on this VM)', () => {
    expect(parseNftRuleset(fixture('nft-list-ruleset--empty-ward-vm.txt'))).toEqual([]);
  });
  it('sees a trailing unconditional drop under an accept policy', () => {
    const text = 'table ip t {\n\tchain c {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tct state established accept\n\t\tcounter packets 3 bytes 180 drop\n\t}\n}\n';
    expect(parseNftRuleset(text)).toEqual([{ table: 'ip t', chain: 'c', policy: 'accept', endsInDrop: true }]);
  });
  it('never throws', () => neverThrowsUntyped(fixture('nft-list-ruleset--inet-filter-policy-drop-fragment.txt'), parseNftRuleset));
});

describe('parseIptablesInput', () => {
  it('reads ufw’s DROP policy (real fragment)', () => {
    expect(parseIptablesInput(fixture('iptables-S--ufw-policy-drop-fragment.txt'))).toMatchObject({ policy: 'DROP' });
  });
  it('sees the final -j DROP under an ACCEPT policy (real capture)', () => {
    expect(parseIptablesInput(fixture('iptables-S--policy-accept-with-rules.txt'))).toEqual({ policy: 'ACCEPT', endsInDrop: true, ruleCount: 5 });
  });
  it('reports an open INPUT chain on this VM (real capture)', () => {
    expect(parseIptablesInput(fixture('iptables-S--all-accept-ward-vm.txt'))).toEqual({ policy: 'ACCEPT', endsInDrop: false, ruleCount: 0 });
  });
  it('never throws', () => neverThrowsUntyped(fixture('iptables-S--ufw-policy-drop-fragment.txt'), parseIptablesInput));
});

describe('ufw', () => {
  it('reads ENABLED from ufw.conf and the status verbose lines', () => {
    expect(parseUfwConf('# comment\nENABLED=yes\nLOGLEVEL=low\n')).toEqual({ enabled: true });
    expect(parseUfwConf('ENABLED=no')).toEqual({ enabled: false });
    expect(parseUfwConf('')).toEqual({ enabled: null });
    expect(parseUfwStatus('Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n')).toEqual({
      active: true,
      defaultIncoming: 'deny',
    });
  });
  it('never throws', () => {
    neverThrowsUntyped('ENABLED=yes', parseUfwConf);
    neverThrowsUntyped('Status: active\nDefault: deny (incoming)', parseUfwStatus);
  });
});
