// The validated, typed, frozen configuration: the only shape the runtime ever sees.
// Durations are milliseconds, addresses are parsed, CIDRs are pre-parsed; no strings to re-parse.
import type { Secret } from './secret.js';

// The enum keys' values, listed once: schema.ts checks them, the types below are made of them.
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export const PROTOCOLS = ['tcp', 'udp', 'http'] as const;
export const ALGORITHMS = ['round-robin', 'least-connections', 'consistent-hash', 'power-of-two'] as const;
export const HASH_KEYS = ['source-ip', 'source-ip-port'] as const;
export const ON_DOWN = ['keep', 'close'] as const;
export const PROXY_PROTOCOLS = ['off', 'v1', 'v2'] as const;
/** How bytes move: lb's addons, Node's public net/dgram API, or the first where it loads. */
export const DATAPATHS = ['auto', 'native', 'portable'] as const;
/** What a health check speaks. */
export const HEALTH_TYPES = ['tcp', 'postgres', 'mysql', 'redis', 'http'] as const;
/** Where a pool's server-reported load comes from. */
export const LOAD_SOURCES = ['postgres', 'mysql', 'redis', 'agent', 'http'] as const;
/** The role a health check requires of a backend. */
export const REQUIRE_ROLES = ['any', 'primary', 'replica'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type Protocol = (typeof PROTOCOLS)[number];
export type Algorithm = (typeof ALGORITHMS)[number];
export type HashKey = (typeof HASH_KEYS)[number];
export type OnDown = (typeof ON_DOWN)[number];
export type ProxyProtocol = (typeof PROXY_PROTOCOLS)[number];
export type Datapath = (typeof DATAPATHS)[number];
export type HealthType = (typeof HEALTH_TYPES)[number];
export type RequireRole = (typeof REQUIRE_ROLES)[number];
export type LoadSource = (typeof LOAD_SOURCES)[number];

/** A parsed `HOST:PORT`. `host` has no brackets; `''` means all interfaces (bind `:PORT`). */
export interface Address {
  readonly host: string;
  readonly port: number;
  /** 4 or 6 for an IP literal, 0 for a hostname or all interfaces. */
  readonly family: 0 | 4 | 6;
  /** Canonical text, `host:port` or `[v6]:port`: the identity of a backend across reloads. */
  readonly text: string;
}

/** A pre-parsed CIDR range, ready for net.BlockList.addSubnet(). */
export interface Cidr {
  readonly text: string;
  readonly network: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

export interface GlobalConfig {
  readonly logLevel: LogLevel;
  readonly drainTimeoutMs: number;
  readonly maxConnections: number;
  /** Data-path processes: a count, or 'auto' (one per core, resolved at start). */
  readonly workers: number | 'auto';
  readonly datapath: Datapath;
}

export interface AdminConfig {
  readonly bind: Address;
}

/** A token bucket per client IP: `requests` tokens per `perMs`, holding at most `burst`. */
export interface RateLimitConfig {
  readonly requests: number;
  readonly perMs: number;
  readonly burst: number;
}

export interface RouteConfig {
  readonly host?: string;
  readonly pathPrefix?: string;
  readonly pool: string;
  readonly rateLimit?: RateLimitConfig;
}

export interface ListenerConfig {
  readonly name: string;
  readonly protocol: Protocol;
  readonly bind: Address;
  readonly pool: string;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly allow: readonly Cidr[];
  readonly deny: readonly Cidr[];
  readonly proxyProtocol: ProxyProtocol;
  /** [global] datapath, carried here: a listener's data path is fixed when it is created. */
  readonly datapath: Datapath;
  readonly sessionTimeoutMs: number;
  /** http only (absent on tcp/udp): time a client has to send a complete request head. */
  readonly headerTimeoutMs?: number;
  readonly routes: readonly RouteConfig[];
}

export interface BackendConfig {
  readonly address: Address;
  readonly weight: number;
}

export interface HealthConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  /** Probe this port instead of the backend's own. */
  readonly port?: number;
  /** Bytes written after connect (escapes already decoded); empty = none. */
  readonly send: Buffer;
  /** The reply must start with these bytes; empty = connect alone passes. */
  readonly expect: Buffer;
  /** What the check speaks: a bare connect (plus send/expect), or a protocol's own dialogue. */
  readonly type: HealthType;
  /** postgres, mysql (required), redis (ACL user, optional). */
  readonly user?: string;
  /** From password_env or password_file, read at load; never logged or shown. */
  readonly password?: Secret;
  /** postgres: the database of the startup message. */
  readonly database: string;
  /** postgres, mysql, redis: a backend of another role is down. */
  readonly requireRole: RequireRole;
  /** http: the path of the GET. */
  readonly path: string;
  /** http: the status that passes. */
  readonly expectStatus: number;
}

/** [pools.NAME.load]: utilization (and, from an agent, weight and state) read from each backend. */
export interface LoadConfig {
  readonly source: LoadSource;
  readonly intervalMs: number;
  /** agent, http: where to ask; unset: the backend's port (http only; agent requires it). */
  readonly port?: number;
  /** http: the path of the GET answering {"utilization": 0.0..1.0}. */
  readonly path: string;
}

export interface PoolConfig {
  readonly name: string;
  readonly algorithm: Algorithm;
  readonly hashKey: HashKey;
  readonly retries: number;
  readonly onDown: OnDown;
  readonly backends: readonly BackendConfig[];
  readonly health?: HealthConfig;
  readonly load?: LoadConfig;
}

export interface Config {
  /** The file it came from (for messages), or '<built-in>'. */
  readonly source: string;
  readonly global: GlobalConfig;
  readonly admin?: AdminConfig;
  readonly listeners: readonly ListenerConfig[];
  readonly pools: readonly PoolConfig[];
}

/** One problem found in a config file. `line`/`column` are 1-based, present when known. */
export interface ConfigProblem {
  readonly file: string;
  readonly path: string;
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
  /** Absent means 'error'. Warnings are reported but do not make a config invalid. */
  readonly severity?: 'error' | 'warning';
}
