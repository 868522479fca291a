// The supervisor ↔ worker protocol (`workers` > 1), carried by node:cluster's IPC channel as
// JSON. The supervisor owns the config, health and admin; a worker owns sockets and
// sessions. Every message is small and rare (per reload, per health flip, per admin request),
// never per connection: the data path does not touch the channel.
import type { Config, ListenerConfig } from '../../config/types.js';
import type { Listener } from '../../listeners/listener.js';

/** A listener's counters, as /status and /metrics read them (summed over workers). */
import type { LoadReport } from '../../pool/backend.js';

export interface ListenerCounters {
  active: number;
  total: number;
  bytesIn: number;
  bytesOut: number;
  denied: number;
  datagramsIn: number;
  datagramsOut: number;
  drops: { denied: number; limit: number; noBackend: number; closing: number };
  requestsTotal: number;
  activeRequests: number;
  rateLimited: number;
}

export interface BackendCounters {
  active: number;
  total: number;
  bytesIn: number;
  bytesOut: number;
  connectFailures: number;
}

export interface Counters {
  listeners: Record<string, ListenerCounters>;
  /** pool name → backend key → counters. */
  backends: Record<string, Record<string, BackendCounters>>;
  /** The worker's local errors (EMFILE, ...) by errno, since it started. */
  localErrors: Record<string, number>;
}

/** Why a worker could not start or apply: enough to log it as the supervisor would. */
export interface WorkerError {
  message: string;
  code?: string;
  listener?: string;
  bind?: string;
  errno?: string;
}

export type ToWorker =
  | { t: 'start'; text: string; file: string; index: number; count: number }
  | { t: 'apply'; id: number; text: string; file: string }
  | { t: 'health'; pool: string; key: string; healthy: boolean; why: string }
  | { t: 'load'; pool: string; key: string; report: LoadReport }
  | { t: 'backend'; pool: string; key: string; action: 'drain' | 'enable' }
  /** Every backend's health and admin drain, for a worker that has just started. */
  | { t: 'states'; backends: Array<{ pool: string; key: string; healthy: boolean; drained: boolean }> }
  | { t: 'counters'; id: number }
  | { t: 'stop'; drainMs: number };

export type FromWorker =
  /** Listening for messages (any sent before this would be lost): send 'start' now. */
  | { t: 'ready' }
  | { t: 'started'; binds: Record<string, string> }
  | { t: 'failed'; error: WorkerError }
  | { t: 'applied'; id: number; ok: true; binds: Record<string, string> }
  | { t: 'applied'; id: number; ok: false; error: WorkerError }
  | { t: 'counters'; id: number; counters: Counters }
  | { t: 'connect_failure'; pool: string; key: string; detail: string };

/** `n` split between `count` workers; worker `index` gets its share, at least 1. */
export function share(n: number, index: number, count: number): number {
  return Math.max(1, Math.floor(n / count) + (index < n % count ? 1 : 0));
}

/**
 * What worker `index` of `count` runs: no admin (the supervisor's), UDP listeners only in
 * the first worker (one process must see all of a client's datagrams), connection limits
 * split evenly.
 */
export function workerConfig(config: Config, index: number, count: number): Config {
  const listeners: ListenerConfig[] = [];
  for (const l of config.listeners) {
    if (l.protocol === 'udp') {
      if (index === 0) listeners.push(l);
    } else {
      listeners.push({ ...l, maxConnections: share(l.maxConnections, index, count) });
    }
  }
  return {
    source: config.source,
    global: { ...config.global, maxConnections: share(config.global.maxConnections, index, count) },
    listeners,
    pools: config.pools,
  };
}

/** A live listener's counters (structural: http and udp listeners have extra fields). */
export function readListenerCounters(l: Listener): ListenerCounters {
  const f = l as unknown as Record<string, unknown>;
  const num = (k: string): number => (typeof f[k] === 'number' ? (f[k] as number) : 0);
  const d = (f['drops'] ?? {}) as Partial<ListenerCounters['drops']>;
  return {
    active: l.activeSessions,
    total: l.sessionsTotal,
    bytesIn: l.bytesIn,
    bytesOut: l.bytesOut,
    denied: num('denied'),
    datagramsIn: num('datagramsIn'),
    datagramsOut: num('datagramsOut'),
    drops: { denied: d.denied ?? 0, limit: d.limit ?? 0, noBackend: d.noBackend ?? 0, closing: d.closing ?? 0 },
    requestsTotal: num('requestsTotal'),
    activeRequests: num('activeRequests'),
    rateLimited: num('rateLimited'),
  };
}

export function zeroListenerCounters(): ListenerCounters {
  return {
    active: 0, total: 0, bytesIn: 0, bytesOut: 0, denied: 0, datagramsIn: 0, datagramsOut: 0,
    drops: { denied: 0, limit: 0, noBackend: 0, closing: 0 }, requestsTotal: 0, activeRequests: 0, rateLimited: 0,
  };
}

/** a += b, field by field, nested ones too (ListenerCounters, BackendCounters). */
export function addCounters<T extends object>(a: T, b: T): void {
  const sum = a as Record<string, unknown>;
  for (const [k, v] of Object.entries(b)) {
    if (typeof v === 'number') sum[k] = (sum[k] as number) + v;
    else addCounters(sum[k] as object, v as object);
  }
}
