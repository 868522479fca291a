// What the admin API reads and asks of the balancer, declared here so that the core never
// imports admin/: a Runtime satisfies it (one process, or the supervisor's runtime, whose
// beforeReport gathers its workers' counters and whose reload goes through every worker).
// Read-only except for reload() and a pool's drainBackend() / enableBackend().
import type { Listener } from '../listeners/listener.js';
import type { Pool } from '../pool/pool.js';
import type { ReloadResult } from '../runtime/runtime.js';

export interface AdminTarget {
  /** lb's version, for /status. */
  readonly version: string;
  /** Processes carrying the data path. */
  readonly workers: number;
  /** The file lb runs from; null for a built-in config (then config.source names it). */
  readonly configFile: string | null;
  readonly config: { readonly source: string };
  readonly reloads: { readonly applied: number; readonly rejected: number };
  /** Open sessions across every listener, retiring ones included. */
  readonly activeSessions: number;
  readonly listeners: ReadonlyMap<string, Listener>;
  /** Drain and enable go through a pool's drainBackend() / enableBackend(). */
  readonly pools: ReadonlyMap<string, Pool>;
  /** lb's own resource failures by errno (all processes), read at scrape time. */
  localErrorCounts(): ReadonlyMap<string, number>;
  /** Resolves once every counter above is current; called before /status and /metrics. */
  beforeReport(): Promise<void>;
  /** The SIGHUP path: re-read the config file and apply it; never rejects. */
  reload(): Promise<ReloadResult>;
}
