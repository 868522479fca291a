// The result shape shared by the small config parsers (duration, address, cidr, escapes).
// A parser never throws on bad input: it returns a message that says what is allowed and
// what was found, ready to be prefixed with the key path (`key.path: message`).

/** `ok: false` carries a message without the key path, e.g. `must be ... (got "x")`. */
export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** The found value as quoted in messages: strings JSON-quoted, everything else by its TOML kind. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return 'a date-time';
  if (Array.isArray(v)) return 'an array';
  if (v !== null && typeof v === 'object') return 'a table';
  return String(v);
}
