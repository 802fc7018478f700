/**
 * Request headers from any `HeadersInit` (a `Headers`, name/value pairs or a record) as a plain
 * record with lower-cased names; repeated names are joined with `, ` as `Headers` does. The agent
 * builds headers this way instead of with `new Headers()`, whose first use loads undici.
 */
export function headerRecord(init: RequestInit['headers']): Record<string, string> {
  // No prototype: a header named `__proto__` or `constructor` is just a header.
  const out = Object.create(null) as Record<string, string>;
  if (!init) return out;
  const add = (value: string, name: string): void => {
    const key = name.toLowerCase();
    out[key] = out[key] === undefined ? value : `${out[key]}, ${value}`;
  };
  if (Array.isArray(init)) for (const [name, value] of init as [string, string][]) add(value, name);
  else if (typeof (init as Headers).forEach === 'function') (init as Headers).forEach(add);
  else for (const [name, value] of Object.entries(init as Record<string, string>)) add(value, name);
  return out;
}
