// Raw TOML object → frozen Config, or every problem found (never only the first, STYLE §7.1).
// Types, ranges and defaults come from schema.ts; this file adds what a key table cannot say:
// references between sections, bind overlaps, duplicate backends, protocol-only keys.
// The result is deep-frozen (fastify's validate-then-deepFreeze); the runtime gets nothing else.
import type {
  Address,
  AdminConfig,
  Algorithm,
  BackendConfig,
  Cidr,
  Config,
  Datapath,
  ConfigProblem,
  GlobalConfig,
  HashKey,
  HealthConfig,
  ListenerConfig,
  LogLevel,
  OnDown,
  PoolConfig,
  Protocol,
  ProxyProtocol,
  RateLimitConfig,
  RouteConfig,
} from './types.js';
import { parseAddress, isHostname } from './address.js';
import { parseCidr } from './cidr.js';
import { formatDuration, parseDuration } from './duration.js';
import { decodeEscapes } from './escapes.js';
import { formatPath, PositionIndex, type KeyPath } from './locate.js';
import { describeValue } from './parsed.js';
import { formatProblem, ProblemList } from './problems.js';
import {
  ADMIN,
  BACKEND,
  GLOBAL,
  HEALTH,
  LISTENER,
  NAME_PATTERN,
  POOL,
  RATE_LIMIT,
  ROOT,
  ROUTE,
  type KeySpec,
  type SectionSpec,
} from './schema.js';

export { formatProblem, isError } from './problems.js';

export type ValidateResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: ConfigProblem[] }
  | { readonly ok: false; readonly problems: ConfigProblem[] };

type Table = Record<string, unknown>;

/** The scalar values read from one section, with the schema's defaults behind them. */
class SectionValues {
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

/**
 * Validate the object toml.parse returned. `file` names the source in problems; `text`, when
 * given, is the TOML source and lets problems carry line:column.
 */
export function validateConfig(raw: unknown, file: string, text?: string): ValidateResult {
  const problems = new ProblemList(file, text === undefined ? undefined : new PositionIndex(text));
  const config = new Validator(problems, file).run(raw);
  const all = problems.sorted();
  if (problems.errorCount > 0 || config === undefined) return { ok: false, problems: all };
  return { ok: true, config: deepFreeze(config), warnings: all };
}

/** `lb.toml: ok: 2 listeners (tcp 1, udp 1), 2 pools, 5 backends` */
export function summarize(config: Config): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const byProtocol = (['tcp', 'udp', 'http'] as const)
    .map((p) => [p, config.listeners.filter((l) => l.protocol === p).length] as const)
    .filter(([, n]) => n > 0)
    .map(([p, n]) => `${p} ${n}`);
  const backends = config.pools.reduce((sum, p) => sum + p.backends.length, 0);
  const listeners = plural(config.listeners.length, 'listener') + (byProtocol.length > 0 ? ` (${byProtocol.join(', ')})` : '');
  return `${config.source}: ok: ${listeners}, ${plural(config.pools.length, 'pool')}, ${plural(backends, 'backend')}`;
}

/** Recursively Object.freeze plain objects and arrays. Buffers (typed arrays) cannot be frozen. */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
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

function isTable(v: unknown): v is Table {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Date) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === null || proto === Object.prototype;
}

/** A listener's socket kind: tcp and http share TCP ports; udp ports are separate. */
function socketKind(protocol: Protocol): 'TCP' | 'UDP' {
  return protocol === 'udp' ? 'UDP' : 'TCP';
}

/**
 * Whether two binds of the same socket kind and port would collide. "" (Node listens on "::",
 * dual-stack) and "::" cover every address; "0.0.0.0" covers every IPv4 address.
 */
function bindsOverlap(a: Address, b: Address): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  const coversAll = (x: Address): boolean => x.host === '' || x.host === '::';
  if (coversAll(a) || coversAll(b) || a.host === b.host) return true;
  return a.family === 4 && b.family === 4 && (a.host === '0.0.0.0' || b.host === '0.0.0.0');
}

interface BindUse {
  readonly path: KeyPath;
  readonly kind: 'TCP' | 'UDP';
  readonly address: Address;
}

class Validator {
  /** Valid binds in file order (admin first), for the overlap check. */
  readonly #binds: BindUse[] = [];
  /** Pool references to resolve once every pool is known. */
  readonly #poolRefs: { readonly pool: string; readonly path: KeyPath }[] = [];
  readonly #defaults = new Map<KeySpec, unknown>();

  constructor(
    private readonly problems: ProblemList,
    private readonly file: string,
  ) {}

  run(raw: unknown): Config | undefined {
    if (this.section(ROOT, raw, []) === undefined) return undefined;
    const root = raw as Table;

    const global = this.global(root['global']);
    const admin = root['admin'] === undefined ? undefined : this.admin(root['admin']);
    const listeners = this.named(root['listeners'], 'listeners', 'listener', (name, t) => this.listener(name, t, global.datapath));
    const pools = this.named(root['pools'], 'pools', 'pool', (name, t) => this.pool(name, t));
    const rawListeners = root['listeners'];
    if (rawListeners === undefined || (isTable(rawListeners) && Object.keys(rawListeners).length === 0)) {
      this.problems.error(['listeners'], 'at least one listener is required, e.g. [listeners.NAME] with bind and pool');
    }
    this.checkPoolRefs(pools);
    this.checkBinds();
    return { source: this.file, global, ...(admin === undefined ? {} : { admin }), listeners, pools };
  }

  // ---- sections ---------------------------------------------------------------------------

  global(raw: unknown): GlobalConfig {
    const v = this.section(GLOBAL, raw ?? {}, ['global']) ?? this.empty(GLOBAL);
    return {
      logLevel: v.get('log_level') as LogLevel,
      drainTimeoutMs: v.get('drain_timeout') as number,
      maxConnections: v.get('max_connections') as number,
      workers: v.get('workers') as number | 'auto',
      datapath: v.get('datapath') as Datapath,
    };
  }

  admin(raw: unknown): AdminConfig | undefined {
    const bind = this.section(ADMIN, raw, ['admin'])?.get('bind') as Address | undefined;
    if (bind === undefined) return undefined;
    this.#binds.push({ path: ['admin', 'bind'], kind: 'TCP', address: bind });
    return { bind };
  }

  /** `datapath` is [global]'s, carried by each listener (it is fixed when one is created). */
  listener(name: string, raw: Table, datapath: Datapath): ListenerConfig {
    const path = ['listeners', name];
    const v = this.section(LISTENER, raw, path) ?? this.empty(LISTENER);
    const protocol = v.get('protocol') as Protocol;
    const proxyProtocol = v.get('proxy_protocol') as ProxyProtocol;
    const bind = v.get('bind') as Address | undefined;
    const pool = v.get('pool') as string | undefined;
    if (bind !== undefined && v.isValid('protocol')) this.#binds.push({ path: [...path, 'bind'], kind: socketKind(protocol), address: bind });
    if (pool !== undefined) this.#poolRefs.push({ pool, path: [...path, 'pool'] });

    let routes: RouteConfig[] = [];
    if (raw['routes'] !== undefined) {
      routes = this.sections(ROUTE, raw['routes'], [...path, 'routes'], 'an array of tables: [[listeners.NAME.routes]]', (t, p) => this.route(t, p)).map((r) => r.value);
      if (protocol !== 'http' && v.isValid('protocol')) {
        this.problems.error([...path, 'routes'], `only allowed when protocol = "http" (this listener is "${protocol}")`);
      }
    }
    if (protocol === 'udp' && proxyProtocol === 'v1') {
      this.problems.error([...path, 'proxy_protocol'], 'PROXY protocol v1 is TCP only: a udp listener takes "off" or "v2" (got "v1")');
    }
    return {
      name,
      protocol,
      bind: bind ?? { host: '', port: 0, family: 0, text: ':0' }, // only seen when invalid: discarded
      pool: pool ?? '',
      connectTimeoutMs: v.get('connect_timeout') as number,
      idleTimeoutMs: v.get('idle_timeout') as number,
      maxConnections: v.get('max_connections') as number,
      allow: v.get('allow') as Cidr[],
      deny: v.get('deny') as Cidr[],
      proxyProtocol,
      datapath,
      sessionTimeoutMs: v.get('session_timeout') as number,
      ...(protocol === 'http' ? { headerTimeoutMs: v.get('header_timeout') as number } : {}),
      routes,
    };
  }

  route(raw: Table, path: KeyPath): RouteConfig {
    const v = this.section(ROUTE, raw, path) ?? this.empty(ROUTE);
    const host = v.get('host') as string | undefined;
    const pathPrefix = v.get('path_prefix') as string | undefined;
    const pool = v.get('pool') as string | undefined;
    if (pool !== undefined) this.#poolRefs.push({ pool, path: [...path, 'pool'] });
    const rateLimit = raw['rate_limit'] === undefined ? undefined : this.rateLimit(raw['rate_limit'], [...path, 'rate_limit']);
    return {
      ...(host === undefined ? {} : { host }),
      ...(pathPrefix === undefined ? {} : { pathPrefix }),
      pool: pool ?? '',
      ...(rateLimit === undefined ? {} : { rateLimit }),
    };
  }

  rateLimit(raw: unknown, path: KeyPath): RateLimitConfig | undefined {
    const v = this.section(RATE_LIMIT, raw, path);
    const requests = v?.get('requests') as number | undefined;
    if (v === undefined || requests === undefined) return undefined;
    const burst = (v.get('burst') as number | undefined) ?? requests;
    return { requests, perMs: v.get('per') as number, burst };
  }

  pool(name: string, raw: Table): PoolConfig {
    const path = ['pools', name];
    const v = this.section(POOL, raw, path) ?? this.empty(POOL);
    let backends: BackendConfig[] = [];
    const rawBackends = raw['backends'];
    if (rawBackends !== undefined) {
      const shape = 'an array of tables, e.g. backends = [{ address = "10.0.0.11:5432" }]';
      const read = this.sections(BACKEND, rawBackends, [...path, 'backends'], shape, (t, p) => this.backend(t, p));
      if (Array.isArray(rawBackends) && rawBackends.length === 0) this.problems.error([...path, 'backends'], 'at least one backend is required');
      // Backend identity is the canonical address: two spellings of one address are duplicates.
      const seen = new Map<string, number>();
      for (const { index, value } of read) {
        const first = seen.get(value.address.text);
        if (first === undefined) seen.set(value.address.text, index);
        else this.problems.error([...path, 'backends', index, 'address'], `duplicate backend "${value.address.text}" (also backends[${first}])`);
      }
      backends = read.map((r) => r.value);
    }
    const health = raw['health'] === undefined ? undefined : this.health(raw['health'], [...path, 'health']);
    return {
      name,
      algorithm: v.get('algorithm') as Algorithm,
      hashKey: v.get('hash_key') as HashKey,
      retries: v.get('retries') as number,
      onDown: v.get('on_down') as OnDown,
      backends,
      ...(health === undefined ? {} : { health }),
    };
  }

  backend(raw: Table, path: KeyPath): BackendConfig | undefined {
    const v = this.section(BACKEND, raw, path);
    const address = v?.get('address') as Address | undefined;
    if (v === undefined || address === undefined) return undefined;
    return { address, weight: v.get('weight') as number };
  }

  health(raw: unknown, path: KeyPath): HealthConfig | undefined {
    const v = this.section(HEALTH, raw, path);
    if (v === undefined) return undefined;
    const intervalMs = v.get('interval') as number;
    const timeoutMs = v.get('timeout') as number;
    if (timeoutMs >= intervalMs && v.isValid('interval') && v.isValid('timeout')) {
      this.problems.warn(
        [...path, v.written.has('timeout') ? 'timeout' : 'interval'],
        `timeout ${formatDuration(timeoutMs)} is not shorter than interval ${formatDuration(intervalMs)}: a slow backend is probed less often than the interval says`,
      );
    }
    const port = v.get('port') as number | undefined;
    return {
      intervalMs,
      timeoutMs,
      rise: v.get('rise') as number,
      fall: v.get('fall') as number,
      ...(port === undefined ? {} : { port }),
      send: v.get('send') as Buffer,
      expect: v.get('expect') as Buffer,
    };
  }

  // ---- generic, schema-driven reading ----------------------------------------------------

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
        // A missing [listeners] gets its own message in run().
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
      // A default that breaks its own key's rules is a bug in schema.ts, not a user problem.
      if (value === undefined) throw new Error(`schema.ts: default of ${key.key} is invalid: ${scratch.sorted().map(formatProblem).join('; ')}`);
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
        const out: Cidr[] = [];
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
      case 'pool-ref':
        if (typeof raw === 'string' && raw !== '') return raw;
        return fail(`must be the name of a pool defined under [pools] (got ${describeValue(raw)})`);
      case 'host-pattern': {
        const host = typeof raw === 'string' ? raw.toLowerCase() : '';
        if (isHostname(host.startsWith('*.') ? host.slice(2) : host)) return host;
        return fail(`must be a hostname like "api.example.com" or "*.example.com" (got ${describeValue(raw)})`);
      }
      case 'path-prefix':
        if (typeof raw === 'string' && raw.startsWith('/') && !/\s/.test(raw)) return raw;
        return fail(`must be a path starting with "/", e.g. "/v1/" (got ${describeValue(raw)})`);
      case 'workers': {
        const max = key.max ?? Number.MAX_SAFE_INTEGER;
        if (raw === 'auto') return raw;
        if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw <= max) return raw;
        return fail(`must be "auto" or an integer from 1 to ${max} (got ${describeValue(raw)})`);
      }
      case 'section':
      case 'sections':
      case 'named':
        throw new Error(`${key.key}: nested sections are read by their own reader`);
    }
  }

  /** `[listeners.NAME]` / `[pools.NAME]`: a table of name → section table, in file order. */
  named<T>(raw: unknown, key: 'listeners' | 'pools', what: 'listener' | 'pool', read: (name: string, t: Table) => T): T[] {
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

  /** An array of tables (backends, routes); elements that fail are reported and left out. */
  sections<T>(
    spec: SectionSpec,
    raw: unknown,
    path: KeyPath,
    shape: string,
    read: (t: Table, p: KeyPath) => T | undefined,
  ): { readonly index: number; readonly value: T }[] {
    if (!Array.isArray(raw)) {
      this.problems.error(path, `must be ${shape} (got ${describeValue(raw)})`);
      return [];
    }
    const out: { index: number; value: T }[] = [];
    raw.forEach((item: unknown, index) => {
      if (!isTable(item)) {
        const like = spec === BACKEND && typeof item === 'string' ? ` like { address = ${JSON.stringify(item)} }` : '';
        this.problems.error([...path, index], `must be a table${like} (got ${describeValue(item)})`);
        return;
      }
      const value = read(item, [...path, index]);
      if (value !== undefined) out.push({ index, value });
    });
    return out;
  }

  // ---- checks across sections ------------------------------------------------------------

  checkPoolRefs(pools: readonly PoolConfig[]): void {
    const names = pools.map((p) => p.name);
    for (const { pool, path } of this.#poolRefs) {
      if (names.includes(pool)) continue;
      const hint = suggest(pool, names);
      const detail = hint !== undefined ? `did you mean "${hint}"?` : names.length === 0 ? 'no pools are defined' : `pools: ${names.join(', ')}`;
      this.problems.error(path, `no pool named ${JSON.stringify(pool)} (${detail})`);
    }
  }

  /** Each bind that overlaps an earlier one of the same socket kind is reported once. */
  checkBinds(): void {
    const binds = this.#binds;
    for (let i = 1; i < binds.length; i++) {
      const b = binds[i]!;
      const a = binds.slice(0, i).find((x) => x.kind === b.kind && bindsOverlap(x.address, b.address));
      if (a === undefined) continue;
      this.problems.error(
        b.path,
        `${JSON.stringify(b.address.text)} overlaps ${formatPath(a.path)} ${JSON.stringify(a.address.text)} (both ${b.kind} on port ${b.address.port})`,
      );
    }
  }
}
