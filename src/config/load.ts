// Config file → validated Config or problems. Reads the file (a regular file only, at most
// CONFIG_MAX_BYTES, so `-c /dev/zero` or a FIFO cannot hang or fill memory), parses TOML (a
// syntax error becomes one problem with the parser's line:column and a short human message
// instead of the grammar dump), then hands the object and the text to validate.ts for positions.
import toml from 'toml';
import { readRegularFile } from './regular-file.js';
import type { ConfigProblem } from './types.js';
import { validateConfig, type ValidateResult } from './validate.js';

/** `ok: false` holds every problem (warnings included, sorted by position). */
export type LoadResult = ValidateResult;

/**
 * The largest config file read: 1 MiB. lb.toml.example, every key with its comment, is a few
 * KiB, and a config of a thousand pools with ten backends each stays under 1 MiB; past that
 * the file is almost certainly not a config (a log, a device, a core dump).
 */
export const CONFIG_MAX_BYTES = 1024 * 1024;
type ReadResult = { ok: true; text: string } | { ok: false; problems: ConfigProblem[] };

/** Read and validate a config file. Never throws for a bad or missing file. */
export function loadConfigFile(file: string): LoadResult {
  const r = readConfigFile(file);
  return r.ok ? parseConfigText(r.text, file) : r;
}

/** A config file's text (readRegularFile: a regular file of at most CONFIG_MAX_BYTES), or the one problem that kept it from being read. */
export function readConfigFile(file: string): ReadResult {
  const r = readRegularFile(file, CONFIG_MAX_BYTES);
  if (r.ok) return r;
  return { ok: false, problems: [{ file, path: '', message: r.readError ? `cannot read config file: ${r.message}` : r.message }] };
}

/** Parse and validate TOML text; `file` names it in problems and becomes Config.source. */
export function parseConfigText(text: string, file: string): LoadResult {
  // A UTF-8 byte order mark is not TOML whitespace; editors on Windows add one.
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  let raw: unknown;
  try {
    raw = toml.parse(source);
  } catch (err) {
    return { ok: false, problems: [syntaxProblem(err, file)] };
  }
  return validateConfig(raw, file, source);
}

interface PeggyExpectation {
  readonly type: string;
  readonly text?: string;
  /** For `class`: characters and [from, to] ranges; `inverted` = anything but these. */
  readonly parts?: readonly (string | readonly string[])[];
  readonly inverted?: boolean;
}

interface TomlError {
  readonly message?: string;
  readonly line?: number;
  readonly column?: number;
  readonly location?: { readonly start: { readonly line: number; readonly column: number } };
  readonly found?: string | null;
  readonly expected?: readonly PeggyExpectation[] | null;
}

/**
 * toml 5.0.1 throws two kinds of errors (NODE20.md): grammar errors (peggy: `location.start`,
 * `found`, `expected`, and a message listing every token the grammar allowed) and semantic
 * errors (duplicate key, bad escape, integer range: `line`/`column` and a readable message).
 */
export function syntaxProblem(err: unknown, file: string): ConfigProblem {
  const e = (err ?? {}) as TomlError;
  const line = e.location?.start.line ?? e.line;
  const column = e.location?.start.column ?? e.column;
  const message = e.location !== undefined ? grammarMessage(e) : semanticMessage(e.message ?? String(err));
  return { file, path: '', message, ...(line !== undefined ? { line } : {}), ...(column !== undefined ? { column } : {}) };
}

function semanticMessage(message: string): string {
  const m = /^Cannot redefine existing key '(.*)'\.?$/.exec(message);
  if (m !== null) return `TOML error: key "${m[1]}" is defined twice`;
  const text = message.replace(/\.$/, '');
  return `TOML error: ${text.charAt(0).toLowerCase()}${text.slice(1)}`;
}

function describeFound(found: string | null | undefined): string {
  if (found === null || found === undefined) return 'end of file';
  if (found === '\n' || found === '\r') return 'end of line';
  return JSON.stringify(found);
}

/** "TOML syntax error: expected X but found Y", with the grammar's expected set summarised. */
function grammarMessage(e: TomlError): string {
  const expected = e.expected ?? [];
  const found = describeFound(e.found);
  const atEnd = e.found === null || e.found === undefined || e.found === '\n' || e.found === '\r';
  const classes = expected.filter((x) => x.type === 'class');
  // Inside a string the grammar expects "anything but the closing quote": an inverted class.
  const inString = classes.some((x) => x.inverted === true && (x.parts ?? []).some((p) => p === '"' || p === "'"));
  if (inString) {
    return atEnd
      ? `TOML syntax error: unterminated string (found ${found})`
      : `TOML syntax error: ${found} is not allowed in a string (use an escape)`;
  }
  const literals = new Set(expected.filter((x) => x.type === 'literal').map((x) => x.text ?? ''));
  const keyStart = classes.some((x) => x.inverted !== true && (x.parts ?? []).some((p) => Array.isArray(p) && p[0] === 'A'));
  const names: string[] = [];
  if (literals.has('true') && literals.has('[') && literals.has('{')) {
    names.push('a value (string, number, boolean, array or inline table)');
  } else {
    if (keyStart || (literals.has('"') && literals.has("'"))) names.push('a key');
    for (const lit of literals) {
      if (lit === '\n' || lit === '\r' || lit === '\r\n' || lit === '#' || lit === '\uFEFF' || lit.trim() === '') continue;
      if (names.includes('a key') && (lit === '"' || lit === "'")) continue;
      names.push(JSON.stringify(lit));
    }
    // "end of line" is worth saying only when nothing else would do.
    if (names.length === 0 && (literals.has('\n') || expected.some((x) => x.type === 'end'))) names.push('end of line');
  }
  if (names.length === 0) return `TOML syntax error: unexpected ${found}`;
  const want = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
  return `TOML syntax error: expected ${want} but found ${found}`;
}
