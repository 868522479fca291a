// lb's rules: raw TOML object → frozen Config, or every problem found (never only the first,
// STYLE §7.1). reader.ts reads each section against schema.ts; this file adds what a key table
// cannot say: references between sections, bind overlaps, duplicate backends, protocol-only keys.
// The result is deep-frozen (fastify's validate-then-deepFreeze); the runtime gets nothing else.
import {
  PROTOCOLS,
  type Address,
  type AdminConfig,
  type Algorithm,
  type BackendConfig,
  type Cidr,
  type Config,
  type Datapath,
  type ConfigProblem,
  type GlobalConfig,
  type HashKey,
  type HealthConfig,
  type HealthType,
  type LoadConfig,
  type LoadSource,
  type RequireRole,
  type ListenerConfig,
  type LogLevel,
  type OnDown,
  type PoolConfig,
  type Protocol,
  type ProxyProtocol,
  type RateLimitConfig,
  type RouteConfig,
} from './types.js';
import { dirname, resolve } from 'node:path';
import { formatDuration } from './duration.js';
import { formatPath, PositionIndex, type KeyPath } from './locate.js';
import { ProblemList } from './problems.js';
import { isTable, SchemaReader, suggest, type SectionValues, type Table } from './reader.js';
import { readRegularFile } from './regular-file.js';
import { Secret } from './secret.js';
import { ADMIN, BACKEND, GLOBAL, HEALTH, KEY_TYPES, LISTENER, LOAD, POOL, RATE_LIMIT, ROOT, ROUTE } from './schema.js';

export { formatProblem } from './problems.js';

/** The keys of [health] that only some check types read. */
const TYPE_ONLY_KEYS: readonly (readonly [string, readonly HealthType[]])[] = [
  ['send', ['tcp']],
  ['expect', ['tcp']],
  ['user', ['postgres', 'mysql', 'redis']],
  ['password_env', ['postgres', 'mysql', 'redis']],
  ['password_file', ['postgres', 'mysql', 'redis']],
  ['database', ['postgres']],
  ['require_role', ['postgres', 'mysql', 'redis']],
  ['path', ['http']],
  ['expect_status', ['http']],
];
/** A password_file longer than this is not a password file. */
const SECRET_MAX_BYTES = 4096;

export type ValidateResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: ConfigProblem[] }
  | { readonly ok: false; readonly problems: ConfigProblem[] };

/**
 * Validate the object toml.parse returned. `file` names the source in problems; `text`, when
 * given, is the TOML source and lets problems carry line:column.
 */
export function validateConfig(raw: unknown, file: string, text?: string): ValidateResult {
  const problems = new ProblemList(file, text === undefined ? undefined : new PositionIndex(text));
  const config = new Validator(problems, KEY_TYPES).run(raw);
  const all = problems.sorted();
  if (problems.errorCount > 0 || config === undefined) return { ok: false, problems: all };
  return { ok: true, config: deepFreeze(config), warnings: all };
}

/** `lb.toml: ok: 2 listeners (tcp 1, udp 1), 2 pools, 5 backends` */
export function summarize(config: Config): string {
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  const counts = PROTOCOLS.map((p) => [p, config.listeners.filter((l) => l.protocol === p).length] as const);
  const byProtocol = counts.filter(([, n]) => n > 0).map(([p, n]) => `${p} ${n}`);
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

/** lb's sections and the checks across them, on top of the generic reading of each section. */
class Validator extends SchemaReader {
  /** Valid binds in file order (admin first), for the overlap check. */
  readonly #binds: BindUse[] = [];
  /** Pool references to resolve once every pool is known. */
  readonly #poolRefs: { readonly pool: string; readonly path: KeyPath }[] = [];

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
    this.checkHealthTypes(listeners, pools);
    return { source: this.problems.file, global, ...(admin === undefined ? {} : { admin }), listeners, pools };
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

    const routes = this.sections(raw['routes'], [...path, 'routes'], 'an array of tables: [[listeners.NAME.routes]]', (t, p) => this.route(t, p)).map((r) => r.value);
    if (raw['routes'] !== undefined && protocol !== 'http' && v.isValid('protocol')) {
      this.problems.error([...path, 'routes'], `only allowed when protocol = "http" (this listener is "${protocol}")`);
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
    const rawBackends = raw['backends'];
    const shape = 'an array of tables, e.g. backends = [{ address = "10.0.0.11:5432" }]';
    const read = this.sections(rawBackends, [...path, 'backends'], shape, (t, p) => this.backend(t, p), 'address');
    if (Array.isArray(rawBackends) && rawBackends.length === 0) this.problems.error([...path, 'backends'], 'at least one backend is required');
    // Backend identity is the canonical address: two spellings of one address are duplicates.
    const seen = new Map<string, number>();
    for (const { index, value } of read) {
      const first = seen.get(value.address.text);
      if (first === undefined) seen.set(value.address.text, index);
      else this.problems.error([...path, 'backends', index, 'address'], `duplicate backend "${value.address.text}" (also backends[${first}])`);
    }
    const health = raw['health'] === undefined ? undefined : this.health(raw['health'], [...path, 'health']);
    const load = raw['load'] === undefined ? undefined : this.load(raw['load'], [...path, 'load'], health);
    return {
      name,
      algorithm: v.get('algorithm') as Algorithm,
      hashKey: v.get('hash_key') as HashKey,
      retries: v.get('retries') as number,
      onDown: v.get('on_down') as OnDown,
      backends: read.map((r) => r.value),
      ...(health === undefined ? {} : { health }),
      ...(load === undefined ? {} : { load }),
    };
  }

  load(raw: unknown, path: KeyPath, health: HealthConfig | undefined): LoadConfig | undefined {
    const v = this.section(LOAD, raw, path);
    if (v === undefined) return undefined;
    const source = v.get('source') as LoadSource | undefined;
    if (source === undefined) return undefined;
    const port = v.get('port') as number | undefined;
    const at = (key: string): KeyPath => [...path, key];
    if (source === 'postgres' || source === 'mysql' || source === 'redis') {
      // The server's own figures, read by logging in as the health check does.
      if (health?.type !== source) {
        this.problems.error(at('source'), `source "${source}" logs in with the [health] section's credentials: set type = "${source}" there (got ${health === undefined ? 'no [health] section' : `type "${health.type}"`})`);
      }
      if (v.written.has('port')) this.problems.error(at('port'), `port is for source agent or http, not "${source}" (it reads the backend's own port)`);
    }
    if (source === 'agent' && port === undefined && !v.invalid.has('port')) this.problems.error(at('source'), 'source "agent" needs port: where the agent listens');
    if (v.written.has('path') && source !== 'http') this.problems.error(at('path'), `path is for source http, not "${source}"`);
    return { source, intervalMs: v.get('interval') as number, ...(port === undefined ? {} : { port }), path: v.get('path') as string };
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
    const type = v.get('type') as HealthType;
    const at = (key: string): KeyPath => [...path, key];
    // Keys that only some types read: a key the type ignores is a mistake worth an error.
    for (const [key, types] of TYPE_ONLY_KEYS) {
      if (v.written.has(key) && !types.includes(type)) this.problems.error(at(key), `${key} is for type ${types.join(' or ')}, not ${JSON.stringify(type)}`);
    }
    const requireRole = v.get('require_role') as RequireRole;
    const user = v.get('user') as string | undefined;
    if ((type === 'postgres' || type === 'mysql') && user === undefined && !v.invalid.has('user')) {
      this.problems.error(at('type'), `a ${type} check logs in: user is required (and password_env or password_file unless the server trusts it)`);
    }
    const password = this.secret(v, path, type);
    return {
      intervalMs,
      timeoutMs,
      rise: v.get('rise') as number,
      fall: v.get('fall') as number,
      ...(port === undefined ? {} : { port }),
      send: v.get('send') as Buffer,
      expect: v.get('expect') as Buffer,
      type,
      ...(user === undefined ? {} : { user }),
      ...(password === undefined ? {} : { password }),
      database: v.get('database') as string,
      requireRole,
      path: v.get('path') as string,
      expectStatus: v.get('expect_status') as number,
    };
  }

  /** The check's password from password_env or password_file (one of them), read now. */
  secret(v: SectionValues, path: KeyPath, type: HealthType): Secret | undefined {
    const env = v.get('password_env') as string | undefined;
    const file = v.get('password_file') as string | undefined;
    if (env !== undefined && file !== undefined) {
      this.problems.error([...path, 'password_file'], 'password_env and password_file are both set: choose one');
      return undefined;
    }
    if (type === 'tcp' || type === 'http') return undefined; // already reported as a key the type ignores
    if (env !== undefined) {
      const value = process.env[env];
      if (value === undefined || value === '') {
        this.problems.error([...path, 'password_env'], `environment variable ${env} is ${value === undefined ? 'not set' : 'empty'}`);
        return undefined;
      }
      return new Secret(value, `env ${env}`);
    }
    if (file === undefined) return undefined;
    const full = resolve(this.problems.file.startsWith('<') ? '.' : dirname(this.problems.file), file);
    const r = readRegularFile(full, SECRET_MAX_BYTES);
    if (!r.ok) {
      this.problems.error([...path, 'password_file'], `cannot read ${full}: ${r.message}`);
      return undefined;
    }
    // The first line, without its line ending (echo and editors add one).
    const value = r.text.split(/\r?\n/, 1)[0] ?? '';
    if (value === '') {
      this.problems.error([...path, 'password_file'], `${full}: the first line is empty`);
      return undefined;
    }
    return new Secret(value, `file ${full}`);
  }

  // ---- checks across sections ------------------------------------------------------------

  /** A database check makes no sense for a pool that only udp listeners use (game servers: tcp or http). */
  checkHealthTypes(listeners: readonly ListenerConfig[], pools: readonly PoolConfig[]): void {
    for (const pool of pools) {
      const type = pool.health?.type;
      if (type !== 'postgres' && type !== 'mysql' && type !== 'redis') continue;
      const users = listeners.filter((l) => l.pool === pool.name);
      if (users.length > 0 && users.every((l) => l.protocol === 'udp')) {
        this.problems.error(['pools', pool.name, 'health', 'type'], `a ${type} check needs a TCP service, but pool "${pool.name}" is used only by udp listeners (use "tcp" with send/expect, or "http")`);
      }
    }
  }

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
