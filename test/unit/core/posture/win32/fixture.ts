import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A real Windows capture from test/fixtures/win32 (see SOURCES.md there for where each came from). */
export const fixture = (name: string): string => readFileSync(join(import.meta.dirname, '../../../../fixtures/win32', name), 'utf8');
