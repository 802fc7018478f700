import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { reportStreamAnswerStatus } from '../../../../broker/sdk/report-stream.js';
import { BROKER_ERROR_CODES, BrokerError } from '../../../../broker/server/errors.js';
import { errorAnswer, verdictAnswerText } from '../../../../broker/server/report-stream.js';

// The answers on the report stream as the reference broker writes them, read back by the SDK's
// reportStreamAnswerStatus (what the agent uses): every verdict is a 200, every error its status.
describe('report stream answers: the broker writes, reportStreamAnswerStatus reads', () => {
  it('a verdict, whatever it holds, reads as 200', () => {
    fc.assert(
      fc.property(
        fc.record({
          deviceId: fc.string(),
          seq: fc.nat(),
          decision: fc.constantFrom('allow', 'warn', 'deny'),
          compliant: fc.boolean(),
          reportOnly: fc.boolean(),
          policyVersion: fc.option(fc.nat(), { nil: null }),
          results: fc.array(fc.record({ ruleId: fc.string(), passed: fc.boolean(), expected: fc.jsonValue(), actual: fc.jsonValue() }), { maxLength: 4 }),
        }),
        ({ results, ...rest }) => {
          const text = verdictAnswerText({ ...rest, evaluation: { compliant: rest.compliant, results: [] } as never, resultsJson: JSON.stringify(results) });
          expect(JSON.parse(text)).toMatchObject({ deviceId: rest.deviceId, seq: rest.seq });
          expect(reportStreamAnswerStatus(text)).toBe(200);
        },
      ),
    );
  });

  it('every error the broker can answer reads as the status POST /posture would have had', () => {
    for (const code of BROKER_ERROR_CODES) {
      const err = new BrokerError(code, `a ${code} happened`, { reason: 'some-reason' });
      expect(reportStreamAnswerStatus(errorAnswer(err))).toBe(err.status);
    }
  });

  it('never throws, and reads anything that is neither a verdict nor an error body with a 4xx/5xx status as 502', () => {
    const possible = (status: number): boolean => status === 200 || status === 502 || (status >= 400 && status <= 599);
    fc.assert(
      fc.property(fc.string(), (text) => {
        expect(possible(reportStreamAnswerStatus(text))).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.integer(), (status) => {
        expect(reportStreamAnswerStatus(JSON.stringify({ error: 'x', status }))).toBe(status >= 400 && status <= 599 ? status : 502);
      }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.array(fc.jsonValue()), fc.string(), fc.double(), fc.constant(null)), (value) => {
        expect(reportStreamAnswerStatus(JSON.stringify(value))).toBe(502);
      }),
    );
    expect(reportStreamAnswerStatus('{"deviceId":')).toBe(200); // the prefix is what marks a verdict
  });
});
