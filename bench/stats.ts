/** Percentile of a sample (nearest-rank), in the sample's unit. */
export function percentile(values: readonly number[] | Float64Array, p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** Print a figure line and, with --json, end with one JSON object (the contract of `npm run bench`). */
export function report(json: boolean, lines: readonly string[], figures: Record<string, unknown>): void {
  for (const line of lines) console.log(line);
  if (json) console.log(JSON.stringify(figures));
}
