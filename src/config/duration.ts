// Duration strings → integer milliseconds. The only place a duration string is read; no
// duration string travels past config/ (STYLE §6).
// Accepted: one or more `<number><unit>` parts, unit ms | s | m | h, e.g. "250ms", "2s",
// "1.5s", "5m", "1h", "1h30m". The total must be a whole number of milliseconds.
import { describeValue, type Parsed } from './parsed.js';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
const FORM = 'a duration such as "250ms", "2s", "1.5s", "5m" or "1h" (units ms, s, m, h)';

/**
 * Node timers hold at most 2^31-1 ms (~24.8 days); a longer setTimeout fires after 1 ms.
 * 596h (2,145,600,000 ms) is the largest whole hour under that, so it caps every duration.
 */
export const MAX_DURATION_MS = 596 * 3_600_000;

export interface DurationLimits {
  /** Smallest allowed value in ms; 0 lets "0s" through. Default 1. */
  readonly minMs?: number;
  /** Largest allowed value in ms. Default MAX_DURATION_MS. */
  readonly maxMs?: number;
}

/** Parse a duration value as found in TOML (any type) into whole milliseconds. */
export function parseDuration(input: unknown, limits: DurationLimits = {}): Parsed<number> {
  const minMs = limits.minMs ?? 1;
  const maxMs = limits.maxMs ?? MAX_DURATION_MS;
  if (typeof input === 'number') {
    return { ok: false, message: `must be a duration string with a unit, e.g. "${input}s" or "${input}ms" (got ${input})` };
  }
  if (typeof input !== 'string') return { ok: false, message: `must be ${FORM} (got ${describeValue(input)})` };
  const text = input;
  let ms = 0;
  let pos = 0;
  PART.lastIndex = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (m === null) return { ok: false, message: `must be ${FORM} (got ${JSON.stringify(text)})` };
    ms += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = PART.lastIndex;
  }
  if (text.length === 0) return { ok: false, message: `must be ${FORM} (got "")` };
  // Decimal fractions are inexact in binary: round away float noise (0.1s*3), then insist on whole ms.
  const rounded = Math.round(ms * 1000) / 1000;
  if (!Number.isInteger(rounded)) {
    return { ok: false, message: `must be a whole number of milliseconds (got ${JSON.stringify(text)})` };
  }
  if (rounded < minMs) {
    return { ok: false, message: `must be at least ${formatDuration(minMs)} (got ${JSON.stringify(text)})` };
  }
  if (rounded > maxMs) {
    return { ok: false, message: `must be at most ${formatDuration(maxMs)} (got ${JSON.stringify(text)})` };
  }
  return { ok: true, value: rounded };
}

/** Milliseconds → the shortest exact duration string in the largest unit ("1h", "1500ms", "0s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const unit of ['h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
