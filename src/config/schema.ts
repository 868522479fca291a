// THE key table: every config key of lb with its type, default, range, required flag and doc
// line, read by reader.ts (validate.ts adds the rules across keys). One source of truth
// (fastify's build-validation idea): test/config/example.test.ts checks lb.toml.example and
// docs/configuration.md mention each key, with its default as written in TOML ("30s", 100000, []).
import { isHostname } from './address.js';
import { describeValue } from './parsed.js';
import type { Parse, SectionSpec } from './reader.js';
import { ALGORITHMS, DATAPATHS, HASH_KEYS, HEALTH_TYPES, LOAD_SOURCES, LOG_LEVELS, ON_DOWN, PROTOCOLS, PROXY_PROTOCOLS, REQUIRE_ROLES } from './types.js';

/** lb's own key types, beside the reader's. */
export const KEY_TYPES = {
  /** Name of a pool defined under [pools] (that it exists is checked across sections). */
  'pool-ref': (raw, _key, fail) => (typeof raw === 'string' && raw !== '' ? raw : fail(`must be the name of a pool defined under [pools] (got ${describeValue(raw)})`)),
  /** "api.example.com" or "*.example.com", lowercased. */
  'host-pattern': (raw, _key, fail) => {
    const host = typeof raw === 'string' ? raw.toLowerCase() : '';
    if (isHostname(host.startsWith('*.') ? host.slice(2) : host)) return host;
    return fail(`must be a hostname like "api.example.com" or "*.example.com" (got ${describeValue(raw)})`);
  },
  /** A string starting with "/". */
  'path-prefix': (raw, _key, fail) =>
    typeof raw === 'string' && raw.startsWith('/') && !/\s/.test(raw) ? raw : fail(`must be a path starting with "/", e.g. "/v1/" (got ${describeValue(raw)})`),
  /** A non-empty string of at most 256 characters without control characters (a user or database name). */
  text: (raw, _key, fail) =>
    typeof raw === 'string' && raw !== '' && raw.length <= 256 && !/[\u0000-\u001f\u007f]/.test(raw) ? raw : fail(`must be a non-empty string without control characters, at most 256 long (got ${describeValue(raw)})`),
  /** The name of an environment variable. */
  'env-name': (raw, _key, fail) =>
    typeof raw === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(raw) ? raw : fail(`must be the name of an environment variable, like "LB_PG_PASSWORD" (got ${describeValue(raw)})`),
  /** A file path (relative ones are read from the config file's directory). */
  'file-path': (raw, _key, fail) =>
    typeof raw === 'string' && raw !== '' && !raw.includes('\0') ? raw : fail(`must be a file path (got ${describeValue(raw)})`),
  /** An HTTP request target: "/" then printable characters without spaces, at most 2048. */
  'http-path': (raw, _key, fail) =>
    typeof raw === 'string' && /^\/[\x21-\x7e]*$/.test(raw) && raw.length <= 2048 ? raw : fail(`must be a path starting with "/" without spaces or control characters, e.g. "/primary" (got ${describeValue(raw)})`),
  /** An integer in [1, max] or "auto" (one per core). */
  workers: (raw, key, fail) => {
    const max = key.max ?? Number.MAX_SAFE_INTEGER;
    if (raw === 'auto' || (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw <= max)) return raw;
    return fail(`must be "auto" or an integer from 1 to ${max} (got ${describeValue(raw)})`);
  },
} satisfies Readonly<Record<string, Parse>>;

type Section = SectionSpec<keyof typeof KEY_TYPES, 'root' | 'global' | 'admin' | 'listener' | 'route' | 'rate-limit' | 'pool' | 'backend' | 'health' | 'load'>;

/** Highest value accepted for max_connections keys: a sanity bound, far above any fd limit. */
export const MAX_CONNECTIONS_LIMIT = 10_000_000;
/** Weights are small integers so smooth weighted round-robin and Maglev tables stay cheap. */
export const MAX_WEIGHT = 256;
export const MAX_RETRIES = 10;
/** workers: a sanity bound (a worker is a whole Node.js process). */
export const MAX_WORKERS = 64;
export const MAX_RISE_FALL = 100;
/** rate_limit requests/burst: a sanity bound; a bucket holds a float, so any size is O(1). */
export const MAX_RATE_REQUESTS = 1_000_000_000;

export const ROOT: Section = {
  name: 'root',
  path: '',
  doc: 'The whole file.',
  keys: [
    { key: 'global', type: 'section', section: 'global', doc: 'Process-wide settings; optional.' },
    { key: 'admin', type: 'section', section: 'admin', doc: 'HTTP admin API; optional, no admin API without it.' },
    { key: 'listeners', type: 'named', section: 'listener', required: true, doc: 'One table per listener, [listeners.NAME]; at least one.' },
    { key: 'pools', type: 'named', section: 'pool', doc: 'One table per pool, [pools.NAME].' },
  ],
};

export const GLOBAL: Section = {
  name: 'global',
  path: 'global',
  doc: 'Process-wide settings.',
  keys: [
    { key: 'log_level', type: 'enum', values: LOG_LEVELS, default: 'info', doc: 'Lowest level of the JSON log lines written to stdout.' },
    {
      key: 'drain_timeout', type: 'duration', default: '30s', min: 0,
      doc: 'On SIGTERM/SIGINT, and for backends or listeners removed by a reload: how long established sessions may go on before they are closed ("0s": close at once).',
    },
    {
      key: 'max_connections', type: 'integer', default: 100_000, min: 1, max: MAX_CONNECTIONS_LIMIT,
      doc: 'Open TCP connections plus UDP sessions across all listeners; clients beyond it are denied.',
    },
    {
      key: 'workers', type: 'workers', default: 1, min: 1, max: MAX_WORKERS,
      doc: 'Processes running the data path ("auto": one per core). With more than one, a supervisor owns config, health checks and the admin API; TCP listeners are shared by all workers, UDP listeners run in the first.',
    },
    {
      key: 'datapath', type: 'enum', values: DATAPATHS, default: 'auto',
      doc: 'How bytes move: native (lb\'s epoll relay and batched UDP addons, Linux), portable (node:net and node:dgram only), auto (native where the addons load, else portable). Applies to listeners opened after a change.',
    },
  ],
};

export const ADMIN: Section = {
  name: 'admin',
  path: 'admin',
  doc: 'HTTP admin API: /healthz, /status, /metrics, drain/enable, /reload.',
  keys: [
    { key: 'bind', type: 'bind', required: true, doc: 'Address of the admin API; keep it on loopback, it has no authentication.' },
  ],
};

export const LISTENER: Section = {
  name: 'listener',
  path: 'listeners.NAME',
  doc: 'One bind + protocol + pool + ACL + limits. NAME is its identity across reloads.',
  keys: [
    { key: 'protocol', type: 'enum', values: PROTOCOLS, default: 'tcp', doc: 'tcp and udp proxy bytes/datagrams; http is an optional L7 listener with routes.' },
    { key: 'bind', type: 'bind', required: true, doc: 'IP:PORT, [IPv6]:PORT or :PORT (all interfaces); port 0 lets the OS choose.' },
    { key: 'pool', type: 'pool-ref', required: true, doc: 'Name of the pool that takes this listener\'s clients (http: the pool when no route matches).' },
    { key: 'connect_timeout', type: 'duration', default: '3s', min: 1, doc: 'tcp/http: how long a connect to a backend may take before the next backend is tried.' },
    { key: 'idle_timeout', type: 'duration', default: '1h', min: 1, doc: 'tcp: no bytes either way for this long closes both sides; http: how long a backend may stay silent (504 before the response head).' },
    {
      key: 'max_connections', type: 'integer', default: 10_000, min: 1, max: MAX_CONNECTIONS_LIMIT,
      doc: 'Open connections (udp: sessions) of this listener; clients beyond it are denied.',
    },
    { key: 'allow', type: 'cidrs', default: [], doc: 'Client CIDRs let in; empty allows every client. IPv4-mapped IPv6 clients match IPv4 rules.' },
    { key: 'deny', type: 'cidrs', default: [], doc: 'Client CIDRs refused; deny wins over allow.' },
    { key: 'proxy_protocol', type: 'enum', values: PROXY_PROTOCOLS, default: 'off', doc: 'PROXY protocol header sent first on each backend connection (v1 is TCP only).' },
    { key: 'session_timeout', type: 'duration', default: '60s', min: 1, doc: 'udp: a client\'s session ends after this long without packets either way.' },
    {
      key: 'header_timeout', type: 'duration', default: '10s', min: 1,
      doc: 'http: a client must send a complete request head within this long (slowloris guard); it is answered 408 and closed.',
    },
    { key: 'routes', type: 'sections', section: 'route', doc: 'http only: [[listeners.NAME.routes]], first match wins, else the listener\'s pool.' },
  ],
};

export const ROUTE: Section = {
  name: 'route',
  path: 'listeners.NAME.routes[i]',
  doc: 'One http route; every given condition must match.',
  keys: [
    { key: 'host', type: 'host-pattern', doc: 'Host header, exact ("api.example.com") or one wildcard label ("*.example.com"); unset: any host.' },
    { key: 'path_prefix', type: 'path-prefix', doc: 'Request path starts with this (must start with "/"); unset: any path.' },
    { key: 'pool', type: 'pool-ref', required: true, doc: 'Pool that takes the matching requests.' },
    { key: 'rate_limit', type: 'section', section: 'rate-limit', doc: 'Inline table { requests, per, burst }: a token bucket per client IP; over it, 429 with Retry-After.' },
  ],
};

export const RATE_LIMIT: Section = {
  name: 'rate-limit',
  path: 'listeners.NAME.routes[i].rate_limit',
  doc: 'Per-route token bucket per client IP: `requests` tokens refill every `per`, up to `burst`.',
  keys: [
    { key: 'requests', type: 'integer', required: true, min: 1, max: MAX_RATE_REQUESTS, doc: 'Requests allowed per `per` (the refill rate).' },
    { key: 'per', type: 'duration', default: '1s', min: 1, doc: 'The period `requests` refers to.' },
    { key: 'burst', type: 'integer', min: 1, max: MAX_RATE_REQUESTS, doc: 'Bucket size: requests a quiet client may send at once; unset: `requests`.' },
  ],
};

export const POOL: Section = {
  name: 'pool',
  path: 'pools.NAME',
  doc: 'A named set of backends with a selector and an optional health check.',
  keys: [
    { key: 'algorithm', type: 'enum', values: ALGORITHMS, default: 'round-robin', doc: 'How a backend is chosen for each new session.' },
    { key: 'hash_key', type: 'enum', values: HASH_KEYS, default: 'source-ip', doc: 'consistent-hash only: what is hashed to pick the backend.' },
    { key: 'retries', type: 'integer', default: 2, min: 0, max: MAX_RETRIES, doc: 'tcp: on a connect failure, try this many other backends.' },
    {
      key: 'on_down', type: 'enum', values: ON_DOWN, default: 'keep',
      doc: 'Established connections of a backend that goes down: keep them, or close them spread over 1s (e.g. database failover).',
    },
    { key: 'backends', type: 'sections', section: 'backend', required: true, doc: 'Array of inline tables { address = "HOST:PORT", weight = 1 }; at least one.' },
    { key: 'health', type: 'section', section: 'health', doc: '[pools.NAME.health]; without it every backend counts as up.' },
    { key: 'load', type: 'section', section: 'load', doc: '[pools.NAME.load]; server-reported load; without it utilization is unknown.' },
  ],
};

export const BACKEND: Section = {
  name: 'backend',
  path: 'pools.NAME.backends[i]',
  doc: 'One HOST:PORT in a pool; the canonical address is its identity across reloads.',
  keys: [
    { key: 'address', type: 'address', required: true, doc: 'IP:PORT, [IPv6]:PORT or hostname:PORT, port 1–65535; unique within the pool.' },
    { key: 'weight', type: 'integer', default: 1, min: 1, max: MAX_WEIGHT, doc: 'Relative share of new sessions.' },
  ],
};

export const HEALTH: Section = {
  name: 'health',
  path: 'pools.NAME.health',
  doc: 'Active health check of each backend every interval: a connect (plus optional send/expect), or a PostgreSQL, MySQL, Redis or HTTP dialogue.',
  keys: [
    {
      key: 'type', type: 'enum', values: HEALTH_TYPES, default: 'tcp',
      doc: 'tcp: connect (plus send/expect); postgres, mysql, redis: log in, ask the role, end the protocol\'s way; http: GET path, expect_status.',
    },
    { key: 'interval', type: 'duration', default: '2s', min: 1, doc: 'Time between two probes of one backend.' },
    { key: 'timeout', type: 'duration', default: '1s', min: 1, doc: 'A probe not finished after this long fails.' },
    { key: 'rise', type: 'integer', default: 2, min: 1, max: MAX_RISE_FALL, doc: 'Consecutive passes for a down backend to go up (a new backend starts down).' },
    { key: 'fall', type: 'integer', default: 3, min: 1, max: MAX_RISE_FALL, doc: 'Consecutive failures for an up backend to go down.' },
    { key: 'port', type: 'integer', min: 1, max: 65535, doc: 'Probe this port instead of the backend\'s own; unset: the backend\'s port.' },
    { key: 'send', type: 'bytes', default: '', doc: 'Bytes written after connect; escapes \\r \\n \\t \\\\ \\" \\xHH; empty: send nothing.' },
    { key: 'expect', type: 'bytes', default: '', doc: 'The reply must start with these bytes (same escapes); empty: a connect alone passes.' },
    { key: 'user', type: 'text', doc: 'postgres, mysql: the user that logs in (required); redis: an ACL user (optional).' },
    { key: 'password_env', type: 'env-name', doc: 'The check\'s password from this environment variable (read at start and reload; never logged or shown).' },
    { key: 'password_file', type: 'file-path', doc: 'Or from this file (first line; relative to the config file; re-read on reload; at most 4 KiB).' },
    { key: 'database', type: 'text', default: 'postgres', doc: 'postgres: the database the check connects to.' },
    {
      key: 'require_role', type: 'enum', values: REQUIRE_ROLES, default: 'any',
      doc: 'postgres (pg_is_in_recovery()), mysql (read_only / super_read_only), redis (ROLE): a backend of another role is down.',
    },
    { key: 'path', type: 'http-path', default: '/', doc: 'http: the path of the GET (e.g. Patroni\'s "/primary").' },
    { key: 'expect_status', type: 'integer', default: 200, min: 100, max: 599, doc: 'http: the status that passes.' },
  ],
};

export const LOAD: Section = {
  name: 'load',
  path: 'pools.NAME.load',
  doc: 'Server-reported load of each backend every interval: utilization 0.0–1.0, and from an agent a weight percentage and a state.',
  keys: [
    {
      key: 'source', type: 'enum', values: LOAD_SOURCES, required: true,
      doc: 'postgres, mysql, redis: client connections over the server\'s maximum, with the [health] section\'s credentials; agent: HAProxy\'s agent-check protocol; http: GET path answering {"utilization": 0.0..1.0}.',
    },
    { key: 'interval', type: 'duration', default: '2s', min: 100, doc: 'Time between two reads of one backend (±10% jitter).' },
    { key: 'port', type: 'integer', min: 1, max: 65535, doc: 'agent (required), http: where to ask; unset: the backend\'s port.' },
    { key: 'path', type: 'http-path', default: '/load', doc: 'http: the path of the GET.' },
  ],
};

/** Every section, in file order. */
export const SECTIONS: readonly Section[] = [ROOT, GLOBAL, ADMIN, LISTENER, ROUTE, RATE_LIMIT, POOL, BACKEND, HEALTH, LOAD];
