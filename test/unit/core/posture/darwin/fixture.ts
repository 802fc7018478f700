import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A real macOS capture from test/fixtures/darwin (see SOURCES.md there for where each came from). */
export const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '../../../../fixtures/darwin', name), 'utf8');
