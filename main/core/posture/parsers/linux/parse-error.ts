import { truncate, WardError } from '../../../errors.js';

/**
 * A Linux command printed something its parser does not recognise. The probe turns it into an
 * `error` result; `excerpt` keeps the start of the output so support staff can see what came back.
 */
export class ParseError extends WardError<'unparsable'> {
  readonly excerpt: string;

  constructor(what: string, output: string) {
    super('unparsable', `could not parse ${what}`);
    this.excerpt = truncate(output, 500);
  }
}
