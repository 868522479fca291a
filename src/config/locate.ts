// Key path → line:column, by scanning the TOML source text (the toml package reports no
// positions for values). Run only on text that toml.parse accepted, so the scanner can be
// lenient; it still never loops forever on odd input. Positions are 1-based and point at
// the first character of the key (`weight` inside `{ address = "…", weight = 0 }`), of the
// `[` of a table header, and of the element itself for array items.
//
// Handles [a.b] and [[a.b]] headers (quoted parts too), dotted and quoted keys, arrays and
// inline tables spanning lines (TOML 1.1), and every string form. O(length of the text).

/** A key path: table keys and array indexes, e.g. ['pools', 'pg', 'backends', 1, 'weight']. */
export type KeyPath = readonly (string | number)[];

export interface Position {
  readonly line: number;
  readonly column: number;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** `pools.pg.backends[1].weight`; non-bare keys are quoted as in TOML: `listeners."my pg".bind`. */
export function formatPath(path: KeyPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += (out === '' ? '' : '.') + (BARE_KEY.test(seg) ? seg : JSON.stringify(seg));
  }
  return out;
}

/** Where each key path of one TOML text is written. Build once per text; look up many times. */
export class PositionIndex {
  readonly #offsets = new Map<string, number>();
  readonly #lineStarts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.#lineStarts.push(i + 1);
    new Scanner(text, this.#offsets).run();
  }

  /** Position of `path`, or of its nearest located parent; undefined when none is written. */
  locate(path: KeyPath): Position | undefined {
    for (let n = path.length; n > 0; n--) {
      const offset = this.#offsets.get(formatPath(path.slice(0, n)));
      if (offset !== undefined) return this.#position(offset);
    }
    return undefined;
  }

  /** Position of exactly `path`, no parent fallback. */
  locateExact(path: KeyPath): Position | undefined {
    const offset = this.#offsets.get(formatPath(path));
    return offset === undefined ? undefined : this.#position(offset);
  }

  #position(offset: number): Position {
    // Binary search for the last line start ≤ offset.
    let lo = 0;
    let hi = this.#lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.#lineStarts[lo]! + 1 };
  }
}

class Scanner {
  #i = 0;
  /** Resolved array-of-tables path → index of its last element. */
  readonly #arrays = new Map<string, number>();

  constructor(
    private readonly s: string,
    private readonly offsets: Map<string, number>,
  ) {}

  run(): void {
    let table: (string | number)[] = [];
    while (this.#i < this.s.length) {
      const before = this.#i;
      this.#skipBlank(true);
      if (this.#i >= this.s.length) break;
      if (this.s[this.#i] === '[') table = this.#header();
      else this.#keyValue(table);
      this.#skipToLineEnd();
      if (this.#i === before) this.#i++; // always make progress
    }
  }

  #record(path: KeyPath, offset: number): void {
    const key = formatPath(path);
    if (!this.offsets.has(key)) this.offsets.set(key, offset);
  }

  /** `[a.b]` or `[[a.b]]`; returns the resolved table path (array indexes included). */
  #header(): (string | number)[] {
    const start = this.#i;
    const isArray = this.s[this.#i + 1] === '[';
    this.#i += isArray ? 2 : 1;
    const keys = this.#keyPath();
    const resolved: (string | number)[] = [];
    keys.forEach((key, n) => {
      resolved.push(key);
      const last = n === keys.length - 1;
      if (last && isArray) return;
      // [[fruits]] then [fruits.physical]: "fruits" means its last element.
      const index = this.#arrays.get(formatPath(resolved));
      if (index !== undefined) resolved.push(index);
      if (!last) this.#record(resolved, start);
    });
    if (isArray) {
      const name = formatPath(resolved);
      const index = (this.#arrays.get(name) ?? -1) + 1;
      this.#arrays.set(name, index);
      this.#record(resolved, start);
      resolved.push(index);
    }
    this.#record(resolved, start);
    return resolved;
  }

  /** `key = value` (key possibly dotted/quoted), relative to `base`. */
  #keyValue(base: KeyPath): void {
    this.#skipBlank(false);
    const start = this.#i;
    const keys = this.#keyPath();
    if (keys.length === 0) return;
    for (let n = 1; n <= keys.length; n++) this.#record([...base, ...keys.slice(0, n)], start);
    this.#skipBlank(false);
    if (this.s[this.#i] !== '=') return;
    this.#i++;
    this.#skipBlank(false);
    this.#value([...base, ...keys]);
  }

  #value(path: KeyPath): void {
    const c = this.s[this.#i];
    if (c === '"' || c === "'") {
      this.#string();
    } else if (c === '[') {
      this.#i++;
      for (let index = 0; ; index++) {
        this.#skipBlank(true);
        if (this.#i >= this.s.length) return;
        if (this.s[this.#i] === ']') break;
        this.#record([...path, index], this.#i);
        const before = this.#i;
        this.#value([...path, index]);
        this.#skipBlank(true);
        if (this.s[this.#i] === ',') this.#i++;
        else if (this.s[this.#i] !== ']' && this.#i === before) this.#i++;
      }
      this.#i++;
    } else if (c === '{') {
      this.#i++;
      for (;;) {
        this.#skipBlank(true); // TOML 1.1: inline tables may span lines
        if (this.#i >= this.s.length) return;
        if (this.s[this.#i] === '}') break;
        const before = this.#i;
        this.#keyValue(path);
        this.#skipBlank(true);
        if (this.s[this.#i] === ',') this.#i++;
        else if (this.s[this.#i] !== '}' && this.#i === before) this.#i++;
      }
      this.#i++;
    } else {
      // number, boolean, date-time (may hold one space): up to a delimiter
      while (this.#i < this.s.length && !',]}#\n\r'.includes(this.s[this.#i]!)) this.#i++;
    }
  }

  /** A possibly dotted key; each part bare, "basic" or 'literal'. */
  #keyPath(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.#skipBlank(false);
      const c = this.s[this.#i];
      if (c === '"' || c === "'") {
        const start = this.#i;
        this.#string();
        const raw = this.s.slice(start + 1, this.#i - 1);
        keys.push(c === '"' ? decodeBasic(raw) : raw);
      } else {
        const start = this.#i;
        while (this.#i < this.s.length && /[A-Za-z0-9_-]/.test(this.s[this.#i]!)) this.#i++;
        if (this.#i === start) return keys;
        keys.push(this.s.slice(start, this.#i));
      }
      this.#skipBlank(false);
      if (this.s[this.#i] !== '.') return keys;
      this.#i++;
    }
  }

  /** Skips one string of any of the four TOML forms, leaving #i after its closing quote. */
  #string(): void {
    const q = this.s[this.#i]!;
    const triple = this.s.startsWith(q.repeat(3), this.#i);
    this.#i += triple ? 3 : 1;
    while (this.#i < this.s.length) {
      const c = this.s[this.#i]!;
      if (c === '\\' && q === '"') {
        this.#i += 2;
        continue;
      }
      if (c === q) {
        if (!triple) {
          this.#i++;
          return;
        }
        if (this.s.startsWith(q.repeat(3), this.#i)) {
          // Up to two quotes may sit right before the closing delimiter: """a""""".
          let end = this.#i + 3;
          while (end < this.s.length && this.s[end] === q && end < this.#i + 5) end++;
          this.#i = end;
          return;
        }
      }
      if (!triple && c === '\n') return;
      this.#i++;
    }
  }

  /** Spaces, tabs and comments; also newlines when `newlines`. */
  #skipBlank(newlines: boolean): void {
    while (this.#i < this.s.length) {
      const c = this.s[this.#i]!;
      if (c === ' ' || c === '\t') this.#i++;
      else if (newlines && (c === '\n' || c === '\r')) this.#i++;
      else if (c === '#') while (this.#i < this.s.length && this.s[this.#i] !== '\n') this.#i++;
      else return;
    }
  }

  #skipToLineEnd(): void {
    this.#skipBlank(false);
    while (this.#i < this.s.length && this.s[this.#i] !== '\n') this.#i++;
  }
}

/** Decode the escapes of a basic-string key ("my\tpg"): rare in keys, but cheap to get right. */
function decodeBasic(raw: string): string {
  return raw.replace(/\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|x([0-9a-fA-F]{2})|(.))/g, (_m, u4, u8, x2, ch: string) => {
    const hex = (u4 ?? u8 ?? x2) as string | undefined;
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
    const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b', '"': '"', '\\': '\\' };
    return simple[ch] ?? ch;
  });
}
