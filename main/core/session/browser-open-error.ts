import { WardError } from '../errors.js';

/**
 * `url-refused`: the sign-in URL is not one Ward hands to a browser (see `BrowserOpener.check`);
 * nothing was launched. The message names the rule, never the URL (it may carry state).
 */
export type BrowserOpenErrorCode = 'url-refused';

export type UrlRefusal = 'not-a-string' | 'too-long' | 'not-printable-ascii' | 'not-a-url' | 'scheme' | 'credentials' | 'origin';

export class BrowserOpenError extends WardError<BrowserOpenErrorCode> {
  readonly refusal: UrlRefusal;

  constructor(refusal: UrlRefusal, message: string) {
    super('url-refused', message, {
      hint: 'The sign-in address did not come from your enrolled broker. Check the broker URL you enrolled with, or ask IT.',
    });
    this.refusal = refusal;
  }
}
