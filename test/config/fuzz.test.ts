// The config loader never throws, whatever the text: random strings, random bytes read as
// UTF-8, and TOML built from lb-shaped documents (every schema key, plausible or random values
// of random types). Each outcome is a deep-frozen Config or a non-empty list of problems, each
// with a path and a message, and a line:column inside the text when it has one. fast-check,
// fixed seed: the same inputs on every run.
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { CONFIG_MAX_BYTES, loadConfigFile, parseConfigText, type LoadResult } from '../../src/config/load.js';
import { formatProblem, summarize } from '../../src/config/validate.js';
import type { ConfigProblem } from '../../src/config/types.js';
import { ADMIN, BACKEND, GLOBAL, HEALTH, LISTENER, LOAD, POOL, RATE_LIMIT, ROOT, ROUTE } from '../../src/config/schema.js';
import type { KeySpec, SectionSpec } from '../../src/config/reader.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

fc.configureGlobal({ seed: 0x0c0f_1915, numRuns: 400 });

const FILE = 'fuzz.toml';

/** Every way an outcome may be wrong, as strings; [] when it is sound. */
function faults(text: string, r: LoadResult, file = FILE): string[] {
  const out: string[] = [];
  if (r.ok) {
    if (!deepFrozen(r.config)) out.push('config not deep-frozen');
    if (r.config.source !== file) out.push(`source ${r.config.source}`);
    if (r.config.listeners.length === 0) out.push('a valid config without listeners');
    for (const w of r.warnings) out.push(...problemFaults(text, w, file, 'warning'));
    if (!summarize(r.config).startsWith(`${file}: ok: `)) out.push('summary');
    return out;
  }
  if (r.problems.length === 0) out.push('invalid with no problem');
  if (!r.problems.some((p) => p.severity !== 'warning')) out.push('invalid with only warnings');
  for (const p of r.problems) out.push(...problemFaults(text, p, file, p.severity ?? 'error'));
  return out;
}

function problemFaults(text: string, p: ConfigProblem, file: string, kind: string): string[] {
  const out: string[] = [];
  const where = `${kind} ${JSON.stringify(p)}`;
  if (p.file !== file) out.push(`${where}: file`);
  if (typeof p.path !== 'string') out.push(`${where}: path`);
  if (typeof p.message !== 'string' || p.message.length === 0) out.push(`${where}: message`);
  if ((p.line === undefined) !== (p.column === undefined)) out.push(`${where}: line without column or the reverse`);
  if (p.line !== undefined && p.column !== undefined) {
    // Lines end at LF (TOML 1.0: LF or CRLF); columns may point one past a line's last character.
    const lines = text.split('\n');
    if (!Number.isInteger(p.line) || p.line < 1 || p.line > lines.length) out.push(`${where}: line outside the text (${lines.length} lines)`);
    else if (!Number.isInteger(p.column) || p.column < 1 || p.column > lines[p.line - 1]!.length + 1) out.push(`${where}: column outside line ${p.line} (${lines[p.line - 1]!.length} chars)`);
  }
  const line = formatProblem(p);
  if (!line.startsWith(`${file}:`)) out.push(`${where}: formatted as ${line}`);
  return out;
}

function deepFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return true;
  return Object.isFrozen(v) && Object.values(v).every(deepFrozen);
}

/** One assertion per property: fast-check's report (seed, path, counterexample) on failure. */
function holds<Ts extends unknown[]>(t: Test, name: string, property: fc.IRawProperty<Ts, false>, params: fc.Parameters<Ts> = {}): void {
  const details = fc.check(property, params);
  t.notOk(details.failed, details.failed ? `${name}\n${fc.defaultReportMessage(details) ?? ''}` : name);
}

/** Problems with a line:column seen by `sound`, so a test can tell the position checks ran. */
let positioned = 0;

/** Parse `text` and report what is wrong with the outcome; a throw is a fault too (fast-check catches it). */
const sound = (text: string): boolean => {
  const r = parseConfigText(text, FILE);
  const f = faults(text, r);
  if (f.length > 0) throw new Error(f.join('\n'));
  if (!r.ok) positioned += r.problems.filter((p) => p.line !== undefined).length;
  return true;
};

t.test('random text never throws and always gives a sound outcome', async (t) => {
  holds(t, 'any string', fc.property(fc.string({ unit: 'binary', maxLength: 200 }), sound));
  holds(t, 'TOML punctuation soup', fc.property(
    fc.string({ unit: fc.constantFrom(...'[]{}=".\'#\n\r\t ,_-+:0123456789eExo.abcinflstrue\\\u00e9\uFEFF'), maxLength: 200 }),
    sound,
  ));
  holds(t, 'random bytes read as UTF-8', fc.property(fc.uint8Array({ maxLength: 300 }), (b) => sound(Buffer.from(b).toString('utf8'))));
  holds(t, 'random lines after a valid head', fc.property(
    fc.array(fc.string({ unit: 'grapheme-ascii', maxLength: 40 }), { maxLength: 8 }),
    (lines) => sound(`[listeners.a]\nbind = "127.0.0.1:0"\npool = "p"\n[pools.p]\nbackends = [{ address = "127.0.0.1:1" }]\n${lines.join('\n')}`),
  ));
  t.ok(positioned > 500, `${positioned} problems with a line:column checked against the text`);
});

// ---- lb-shaped documents ----

type Value = string | number | boolean | Value[] | { [key: string]: Value };

const SECTIONS: Readonly<Record<string, SectionSpec>> = {
  root: ROOT, global: GLOBAL, admin: ADMIN, listener: LISTENER, route: ROUTE, 'rate-limit': RATE_LIMIT, pool: POOL, backend: BACKEND, health: HEALTH, load: LOAD,
};
/** Few names, so that listeners and pools refer to each other often enough to validate. */
const NAMES = ['pg', 'web', 'p', 'a.b', 'x y', '', 'pg'] as const;
const name = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });
const key = fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty'));

/** Any TOML value of any type, nested a little. */
const junk: fc.Arbitrary<Value> = fc.letrec<{ value: Value }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 6 }),
    fc.integer(),
    fc.constantFrom(0, -1, 1, 65535, 65536, 2 ** 53, -(2 ** 63)),
    fc.double(),
    fc.boolean(),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(key, tie('value'), { maxKeys: 3 }),
  ),
})).value;

/** Values an operator might write for a key of this type, right and wrong. */
function plausible(k: KeySpec): fc.Arbitrary<Value> {
  switch (k.type) {
    case 'enum':
      return fc.oneof(fc.constantFrom(...(k.values ?? ['x'])), fc.constantFrom('', 'TCP', 'leastconn'));
    case 'integer':
      return fc.oneof(fc.integer({ min: (k.min ?? 0) - 1, max: Math.min(k.max ?? 1000, 1000) + 1 }), fc.constantFrom(k.min ?? 0, k.max ?? 1, 1.5, -0));
    case 'duration':
      return fc.constantFrom('0s', '250ms', '2s', '5m', '1h', '1d', '-1s', '2 s', '', '1.5s', '99999999h', 30);
    case 'bind':
      return fc.constantFrom('127.0.0.1:0', ':0', '[::1]:0', '0.0.0.0:6432', '127.0.0.1:99999', '[::1', 'nonsense', '::1:80');
    case 'address':
      return fc.oneof(fc.constantFrom('127.0.0.1:5432', 'db.example:5432', '[::1]:1', 'x:0', 'a b:1', '[fe80::1%eth0]:5'), fc.integer({ min: 1, max: 65535 }).map((p) => `127.0.0.1:${p}`));
    case 'cidrs':
      return fc.array(fc.constantFrom('10.0.0.0/8', '::1/128', '1.2.3.4', '10.1.2.3/8', 'bad/99', '::ffff:1.2.3.0/120', ''), { maxLength: 3 });
    case 'bytes':
      return fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('\\r\\n', '\\x00', '\\xZZ', 'PING\\r\\n', '\\'));
    case 'pool-ref':
      return name;
    case 'host-pattern':
      return fc.constantFrom('api.example.com', '*.example.com', '*', '**.x', 'a..b', '');
    case 'path-prefix':
      return fc.constantFrom('/', '/v1/', 'v1', '', '/a b');
    case 'workers':
      return fc.constantFrom(1, 2, 'auto', 0, 65, 'many');
    case 'text':
      return fc.oneof(fc.constantFrom('lb_check', 'postgres', '', 'a\u0000b', 'x'.repeat(300)), fc.string({ maxLength: 12 }));
    case 'env-name':
      return fc.constantFrom('LB_PG_PASSWORD', 'HOME', '1BAD', '', 'A-B', 'LB_FUZZ_UNSET');
    case 'file-path':
      return fc.constantFrom('/dev/null', '/dev/zero', '/nonexistent', '', 'a\u0000b', '.', '/etc/hostname');
    case 'http-path':
      return fc.constantFrom('/', '/primary', 'health', '/a b', '', '/\u0001');
    case 'section':
      return section(k.section);
    case 'sections':
      return fc.array(section(k.section), { maxLength: 3 });
    case 'named':
      return fc.dictionary(name, section(k.section), { maxKeys: 3 });
    default:
      return junk; // a key type added after this test: random values still must not throw
  }
}

const sectionCache = new Map<string, fc.Arbitrary<Value>>();

/** A table of this section: any subset of its keys, mostly plausible values, sometimes an unknown key. */
function section(sectionName: string | undefined): fc.Arbitrary<Value> {
  const spec = sectionName === undefined ? undefined : SECTIONS[sectionName];
  if (spec === undefined) return fc.dictionary(key, junk, { maxKeys: 3 });
  const cached = sectionCache.get(spec.name);
  if (cached !== undefined) return cached;
  const fields = Object.fromEntries(spec.keys.map((k) => [k.key, fc.oneof({ weight: 6, arbitrary: plausible(k) }, { weight: 1, arbitrary: junk })]));
  const arb = fc
    .tuple(fc.record(fields, { requiredKeys: [] }), fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.dictionary(key, junk, { minKeys: 1, maxKeys: 2 }) }))
    .map(([known, extra]) => ({ ...(extra ?? {}), ...known }) as Value);
  sectionCache.set(spec.name, arb);
  return arb;
}

/** Values that are right for a key of this type taken alone (cross-key rules may still object). */
function right(k: KeySpec, pool: string): fc.Arbitrary<Value> | undefined {
  switch (k.type) {
    case 'enum':
      return k.values === undefined ? undefined : fc.constantFrom(...k.values);
    case 'integer':
      return fc.integer({ min: k.min ?? 0, max: Math.max(k.min ?? 0, Math.min(k.max ?? 1000, 1000)) });
    case 'duration':
      return fc.constantFrom('250ms', '2s', '5m', '1h');
    case 'cidrs':
      return fc.subarray(['10.0.0.0/8', '::1/128', '192.0.2.7']);
    case 'bytes':
      return fc.constantFrom('', 'PING\\r\\n');
    case 'pool-ref':
      return fc.constant(pool);
    case 'host-pattern':
      return fc.constantFrom('api.example.com', '*.example.com');
    case 'path-prefix':
      return fc.constantFrom('/', '/v1/');
    case 'workers':
      return fc.constant(1);
    case 'section':
      if (k.section === 'health') return rightHealth(pool);
      return k.section === undefined || SECTIONS[k.section] === undefined ? undefined : rightSection(SECTIONS[k.section]!, pool, []);
    default:
      return undefined; // binds, addresses and nested lists are set by the caller
  }
}

/** Some of the section's keys with right values; `skip` keys are left to the caller. */
function rightSection(spec: SectionSpec, pool: string, skip: readonly string[]): fc.Arbitrary<{ [key: string]: Value }> {
  const fields: Record<string, fc.Arbitrary<Value>> = {};
  for (const k of spec.keys) {
    const arb = skip.includes(k.key) ? undefined : right(k, pool);
    if (arb !== undefined) fields[k.key] = arb;
  }
  // A required key without a generator (a key added after this test) is left out: that config is invalid, which is fine.
  return fc.record(fields, { requiredKeys: spec.keys.filter((k) => k.required === true && fields[k.key] !== undefined).map((k) => k.key) });
}

/** A [health] section whose keys fit its type (the keys of one type are wrong for another). */
const HEALTH_TYPE_KEYS = ['type', 'send', 'expect', 'user', 'password_env', 'password_file', 'database', 'require_role', 'path', 'expect_status'];
function rightHealth(pool: string): fc.Arbitrary<Value> {
  const byType = fc.oneof(
    fc.record({ type: fc.constant('tcp'), send: fc.constantFrom('', 'PING\\r\\n'), expect: fc.constantFrom('', '+PONG') }, { requiredKeys: [] }),
    fc.record({ type: fc.constant('http'), path: fc.constantFrom('/', '/primary'), expect_status: fc.constantFrom(200, 204) }, { requiredKeys: ['type'] }),
    fc.record({ type: fc.constantFrom('postgres', 'mysql'), user: fc.constant('lb_check'), require_role: fc.constantFrom('any', 'primary', 'replica') }, { requiredKeys: ['type', 'user'] }),
    fc.record({ type: fc.constant('redis'), require_role: fc.constantFrom('any', 'primary', 'replica') }, { requiredKeys: ['type'] }),
  );
  return fc.tuple(rightSection(HEALTH, pool, HEALTH_TYPE_KEYS), byType).map(([common, typed]) => {
    const out: { [key: string]: Value } = { ...common, ...typed };
    if (typed['type'] === 'postgres') out['database'] = 'app'; // a postgres-only key
    return out;
  });
}

/** A listener and its pool with right values, and now and then one wrong or unknown key. */
const likelyValid = fc
  .record({
    pool: fc.constantFrom('pg', 'web'),
    ports: fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 4 }),
    listener: rightSection(LISTENER, 'pg', ['bind', 'pool', 'routes']),
    poolBody: rightSection(POOL, 'pg', ['backends']),
    global: fc.option(rightSection(GLOBAL, 'pg', []), { nil: undefined }),
    spoil: fc.option(fc.tuple(fc.constantFrom('global', 'front', 'pool'), key, junk), { freq: 3, nil: undefined }),
  })
  .map(({ pool, ports, listener, poolBody, global, spoil }) => {
    const front: { [key: string]: Value } = { ...listener, bind: '127.0.0.1:0', pool };
    const body: { [key: string]: Value } = { ...poolBody, backends: ports.map((p) => ({ address: `127.0.0.1:${p}` })) };
    const g: { [key: string]: Value } = { ...(global ?? {}) };
    if (spoil !== undefined) ({ global: g, front, pool: body })[spoil[0]][spoil[1]] = spoil[2];
    return { global: g, listeners: { front }, pools: { [pool]: body } } as Value;
  });

const document = fc.oneof({ weight: 3, arbitrary: section('root') }, { weight: 2, arbitrary: likelyValid }, { weight: 1, arbitrary: junk });

/** TOML basic string: JSON's escapes are TOML's, plus DEL, which TOML wants escaped too. */
const quote = (s: string): string => JSON.stringify(s).replace(/\u007f/g, '\\u007F');
const tomlKey = (k: string): string => (/^[A-Za-z0-9_-]+$/.test(k) ? k : quote(k));

function tomlValue(v: Value): string {
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    return Number.isInteger(v) && !Number.isSafeInteger(v) ? v.toExponential() : String(v);
  }
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  return `{ ${Object.entries(v).map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`).join(', ')} }`;
}

/**
 * A document as a TOML file: scalars at the top, then [global]-style tables, then one
 * [listeners.NAME]-style table per named entry; nested tables inline. `inline`: the whole
 * document as `key = value` lines instead.
 */
function toToml(doc: Value, inline: boolean): string {
  if (typeof doc !== 'object' || Array.isArray(doc)) return `value = ${tomlValue(doc)}\n`;
  if (inline) return Object.entries(doc).map(([k, v]) => `${tomlKey(k)} = ${tomlValue(v)}\n`).join('');
  const isTable = (v: Value): v is { [key: string]: Value } => typeof v === 'object' && !Array.isArray(v);
  const lines: string[] = [];
  const tables: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    if (!isTable(v)) {
      lines.push(`${tomlKey(k)} = ${tomlValue(v)}`);
      continue;
    }
    const named = Object.values(v).length > 0 && Object.values(v).every(isTable) && (k === 'listeners' || k === 'pools');
    if (named) {
      for (const [n, body] of Object.entries(v)) {
        tables.push(`[${tomlKey(k)}.${tomlKey(n)}]`, ...Object.entries(body as { [key: string]: Value }).map(([bk, bv]) => `${tomlKey(bk)} = ${tomlValue(bv)}`), '');
      }
    } else {
      tables.push(`[${tomlKey(k)}]`, ...Object.entries(v).map(([bk, bv]) => `${tomlKey(bk)} = ${tomlValue(bv)}`), '');
    }
  }
  return [...lines, '', ...tables].join('\n');
}

t.test('lb-shaped TOML documents: never a throw, always a sound outcome', async (t) => {
  const outcomes = { valid: 0, invalid: 0, syntax: 0 };
  holds(t, 'structured documents', fc.property(document, fc.boolean(), fc.constantFrom('\n', '\r\n'), (doc, inline, eol) => {
    const text = toToml(doc, inline).replace(/\n/g, eol);
    const r = parseConfigText(text, FILE);
    const f = faults(text, r);
    if (f.length > 0) throw new Error(`${f.join('\n')}\n--- text ---\n${text}`);
    if (r.ok) outcomes.valid++;
    else if (r.problems.some((p) => p.path === '' && p.message.startsWith('TOML'))) outcomes.syntax++;
    else outcomes.invalid++;
    return true;
  }));
  t.ok(outcomes.valid >= 20, `valid configs among them (${JSON.stringify(outcomes)})`);
  t.ok(outcomes.invalid >= 100, 'invalid ones reach the validator, not only the TOML parser');
});

t.test('the same through a file: what lb check reads', async (t) => {
  const dir = t.testdir({});
  let n = 0;
  holds(t, 'files', fc.property(document, (doc) => {
    const file = join(dir, `c${n++ % 8}.toml`);
    const text = toToml(doc, false);
    writeFileSync(file, text);
    const f = faults(text, loadConfigFile(file), file);
    if (f.length > 0) throw new Error(f.join('\n'));
    return Buffer.byteLength(text) <= CONFIG_MAX_BYTES;
  }), { numRuns: 100 });
});
