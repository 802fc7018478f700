import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { expect } from 'vitest';
import { ParseError } from '../../../../../main/core/posture/parsers/linux/parse-error.js';

/** A captured real output from test/fixtures/linux (see SOURCES.md there). */
export function fixture(name: string): string {
  return readFileSync(new URL(`../../../../fixtures/linux/${name}`, import.meta.url), 'utf8');
}

/**
 * Text that looks like `sample` in places: its own lines shuffled, cut and mixed with arbitrary
 * strings, so the property reaches past a parser's first line.
 */
export function textLike(sample: string): fc.Arbitrary<string> {
  const lines = sample.split('\n');
  const line = fc.oneof(fc.constantFrom(...lines), fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom(...lines).map((l) => l.slice(0, Math.floor(l.length / 2))));
  return fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.array(line, { maxLength: 40 }).map((ls) => ls.join('\n')));
}

/** Property: the parser returns, or throws only its typed ParseError, for any input. */
export function neverThrowsUntyped(sample: string, parse: (s: string) => unknown): void {
  fc.assert(
    fc.property(textLike(sample), (text) => {
      try {
        parse(text);
      } catch (err) {
        expect(err).toBeInstanceOf(ParseError);
      }
    }),
    { numRuns: 300 },
  );
}
