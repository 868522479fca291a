// The schema reader: a TOML table read against its key table (SectionSpec): unknown keys with
// did-you-mean, required keys, types, ranges, defaults (parsed like a written value, so they
// cannot drift). Knows nothing of what keys mean: a schema adds its own key types and rules.
import { parseAddress } from './address.js';
import { parseCidr } from './cidr.js';
import { parseDuration } from './duration.js';
import { decodeEscapes } from './escapes.js';
import type { KeyPath } from './locate.js';
import { describeValue } from './parsed.js';
import { formatProblem, ProblemList } from './problems.js';

/** The key types the reader knows; `section`/`sections`/`named` keys hold nested sections. */
export type KeyType =
  | 'enum' //      one of `values`
  | 'integer' //   whole number in [min, max]
  | 'duration' //  "250ms" | "2s" | "5m" | "1h" → ms, in [min, max] ms
  | 'bind' //      IP:PORT | [IPv6]:PORT | :PORT, port 0–65535
  | 'address' //   HOST:PORT | [IPv6]:PORT, port 1–65535, HOST may be a hostname
  | 'cidrs' //     array of CIDR strings ("10.0.0.0/8", "::1/128", bare IP)
  | 'bytes' //     string with escapes \r \n \t \\ \" \xHH → Buffer
  | 'section' //   one table of section `section`
  | 'sections' //  array of tables of section `section`
  | 'named'; //    table of NAME → table of section `section`

/** A schema's own key type: the raw value → its typed value, or fail(why) (undefined). */
export type Parse = (raw: unknown, key: KeySpec, fail: (message: string) => undefined) => unknown;

/** A TOML default value as an operator would write it. */
export type DefaultValue = string | number | readonly string[];

/** One key; `Own`: the schema's own key types (read by its Parse functions); `Name`: its sections. */
export interface KeySpec<Own extends string = string, Name extends string = string> {
  /** The TOML key, snake_case as in the SPEC. */
  readonly key: string;
  readonly type: KeyType | Own;
  /** A missing required key is a problem; otherwise `default` applies (or the key stays unset). */
  readonly required?: boolean;
  /** Applied when the key is missing; absent = optional with no value (or required). */
  readonly default?: DefaultValue;
  /** Allowed values of an `enum`. */
  readonly values?: readonly string[];
  /** Inclusive bounds: integers as is, durations in ms. */
  readonly min?: number;
  readonly max?: number;
  /** Nested section of `section`, `sections` and `named` keys. */
  readonly section?: Name;
  /** One line on behaviour, used by docs. */
  readonly doc: string;
}

export interface SectionSpec<Own extends string = string, Name extends string = string> {
  readonly name: Name;
  /** Where the section lives, with NAME and [i] placeholders, e.g. "pools.NAME.backends[i]". */
  readonly path: string;
  readonly doc: string;
  readonly keys: readonly KeySpec<Own, Name>[];
}

/** The NAME of a [KEY.NAME] table: it names things in messages, logs, metrics and URLs. */
export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export type Table = Record<string, unknown>;

export function isTable(v: unknown): v is Table {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Date) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === null || proto === Object.prototype;
}

/** A default as it would be written in TOML: "30s", 100000, []. */
export function formatDefault(value: DefaultValue): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
}

/** Optimal-string-alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate within a third of the length (at least 1 edit), or undefined. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const distance = editDistance(word.toLowerCase(), c.toLowerCase());
    const limit = Math.max(1, Math.floor(Math.max(word.length, c.length) / 3));
    if (distance <= limit && distance < bestDistance) {
      best = c;
      bestDistance = distance;
    }
  }
  return best;
}

/** The scalar values read from one section, with the schema's defaults behind them. */
export class SectionValues {
  /** Keys written with a valid value. */
  readonly written = new Map<string, unknown>();
  /** Keys written with an invalid value (already reported). */
  readonly invalid = new Set<string>();

  constructor(
    readonly spec: SectionSpec,
    private readonly defaultOf: (key: KeySpec) => unknown,
  ) {}

  /** The written value, else the default (also after an invalid value), else undefined. */
  get(key: string): unknown {
    if (this.written.has(key)) return this.written.get(key);
    const spec = this.spec.keys.find((k) => k.key === key);
    if (spec === undefined) throw new Error(`${key} is not a key of ${this.spec.name}`);
    return spec.default === undefined ? undefined : this.defaultOf(spec);
  }

  /** True when the value in effect is trustworthy for checks across keys. */
  isValid(key: string): boolean {
    return !this.invalid.has(key);
  }
}

/** Reads the sections of one file, problems into `problems`; a schema's rules extend it. */
export class SchemaReader {
  readonly #defaults = new Map<KeySpec, unknown>();

  constructor(
    protected readonly problems: ProblemList,
    /** Parsers of the schema's own key types, by type name. */
    private readonly own: Readonly<Record<string, Parse>>,
  ) {}

  /**
   * Check that `raw` is a table, report unknown keys (with a suggestion) and missing required
   * keys, and parse every scalar key of `spec`. Nested keys (section, sections, named) are
   * left to the caller. undefined when `raw` is not a table.
   */
  section(spec: SectionSpec, raw: unknown, path: KeyPath): SectionValues | undefined {
    if (!isTable(raw)) {
      this.problems.error(path, `must be a table (got ${describeValue(raw)})`);
      return undefined;
    }
    const known = spec.keys.map((k) => k.key);
    for (const key of Object.keys(raw)) {
      if (known.includes(key)) continue;
      const hint = suggest(key, known);
      this.problems.error([...path, key], `unknown key${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`);
    }
    const values = this.empty(spec);
    for (const key of spec.keys) {
      const value = raw[key.key];
      if (value === undefined) {
        // A required `named` key is the rules' to check: they know what "at least one" looks like.
        if (key.required && key.type !== 'named') this.problems.error([...path, key.key], 'required key is missing');
        continue;
      }
      if (key.type === 'section' || key.type === 'sections' || key.type === 'named') continue;
      const parsed = this.value(this.problems, key, value, [...path, key.key]);
      if (parsed === undefined) values.invalid.add(key.key);
      else values.written.set(key.key, parsed);
    }
    return values;
  }

  empty(spec: SectionSpec): SectionValues {
    return new SectionValues(spec, (key) => this.defaultOf(key));
  }

  /** A key's default, parsed by the same rules as a written value (once per key). */
  defaultOf(key: KeySpec): unknown {
    if (!this.#defaults.has(key)) {
      const scratch = new ProblemList('<schema>');
      const value = this.value(scratch, key, key.default, [key.key]);
      // A default that breaks its own key's rules is a bug in the key table, not a user problem.
      if (value === undefined) throw new Error(`schema: default of ${key.key} is invalid: ${scratch.sorted().map(formatProblem).join('; ')}`);
      this.#defaults.set(key, value);
    }
    return this.#defaults.get(key);
  }

  /** One scalar key's value → typed value, or undefined after reporting why it is invalid. */
  value(problems: ProblemList, key: KeySpec, raw: unknown, path: KeyPath): unknown {
    const fail = (message: string): undefined => {
      problems.error(path, message);
      return undefined;
    };
    switch (key.type) {
      case 'enum': {
        const values = key.values ?? [];
        if (typeof raw === 'string' && values.includes(raw)) return raw;
        return fail(`must be one of ${values.join(', ')} (got ${describeValue(raw)})`);
      }
      case 'integer': {
        const min = key.min ?? 0;
        const max = key.max ?? Number.MAX_SAFE_INTEGER;
        if (typeof raw === 'number' && Number.isInteger(raw) && raw >= min && raw <= max) return raw;
        return fail(`must be an integer from ${min} to ${max} (got ${describeValue(raw)})`);
      }
      case 'duration': {
        const r = parseDuration(raw, { ...(key.min === undefined ? {} : { minMs: key.min }), ...(key.max === undefined ? {} : { maxMs: key.max }) });
        return r.ok ? r.value : fail(r.message);
      }
      case 'bind':
      case 'address': {
        const r = parseAddress(raw, key.type === 'bind' ? 'bind' : 'backend');
        return r.ok ? r.value : fail(r.message);
      }
      case 'cidrs': {
        if (!Array.isArray(raw)) return fail(`must be an array of CIDR strings, e.g. ["10.0.0.0/8", "::1/128"] (got ${describeValue(raw)})`);
        const out: unknown[] = [];
        raw.forEach((item: unknown, i) => {
          const r = parseCidr(item);
          if (!r.ok) return problems.error([...path, i], r.message);
          if (r.value.warning !== undefined) problems.warn([...path, i], r.value.warning);
          out.push(r.value.cidr);
        });
        return out.length === raw.length ? out : undefined;
      }
      case 'bytes': {
        const r = decodeEscapes(raw);
        return r.ok ? r.value : fail(r.message);
      }
      case 'section':
      case 'sections':
      case 'named':
        throw new Error(`${key.key}: nested sections are read by their own reader`);
    }
    const parse = this.own[key.type];
    if (parse === undefined) throw new Error(`${key.key}: no parser for key type ${key.type}`);
    return parse(raw, key, fail);
  }

  /** `[KEY.NAME]` tables: a table of NAME → section table, read in file order. */
  named<T>(raw: unknown, key: string, what: string, read: (name: string, t: Table) => T): T[] {
    if (raw === undefined) return [];
    if (!isTable(raw)) {
      this.problems.error([key], `must be a table of named ${key}, e.g. [${key}.NAME] (got ${describeValue(raw)})`);
      return [];
    }
    const out: T[] = [];
    for (const [name, value] of Object.entries(raw)) {
      if (!NAME_PATTERN.test(name)) {
        this.problems.error([key, name], `a ${what} name must be 1 to 64 letters, digits, "_", "." or "-" (got ${JSON.stringify(name)})`);
      }
      if (!isTable(value)) {
        this.problems.error([key, name], `must be a table: [${key}.NAME] (got ${describeValue(value)})`);
        continue;
      }
      out.push(read(name, value));
    }
    return out;
  }

  /**
   * An array of tables ([] when `raw` is undefined); elements that fail are reported and left
   * out. `bare`: the key a bare string element was probably meant for, named in the problem.
   */
  sections<T>(raw: unknown, path: KeyPath, shape: string, read: (t: Table, p: KeyPath) => T | undefined, bare?: string): { readonly index: number; readonly value: T }[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) {
      this.problems.error(path, `must be ${shape} (got ${describeValue(raw)})`);
      return [];
    }
    const out: { index: number; value: T }[] = [];
    raw.forEach((item: unknown, index) => {
      if (!isTable(item)) {
        const like = bare !== undefined && typeof item === 'string' ? ` like { ${bare} = ${JSON.stringify(item)} }` : '';
        this.problems.error([...path, index], `must be a table${like} (got ${describeValue(item)})`);
        return;
      }
      const value = read(item, [...path, index]);
      if (value !== undefined) out.push({ index, value });
    });
    return out;
  }
}
