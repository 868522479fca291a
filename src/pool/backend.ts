// A backend: one HOST:PORT in a pool, its state and its counters.
// Direction is defined here once: *in* = client → backend, *out* = backend → client.
// Counters are plain fields incremented inline; metrics read them at scrape time.
// `state` is derived from two inputs and cached as a field so the hot path only reads it:
// draining (admin or reload) wins; otherwise health decides between up and down.
import type { Address } from '../config/types.js';
import type { EndReason } from '../log/end-reason.js';

export type BackendState = 'up' | 'down' | 'draining';

/** What an HAProxy-style agent said of a backend's state: `drain` and `maint` take no new sessions. */
export type AgentState = 'ready' | 'drain' | 'maint';

/** One reading of [pools.NAME.load]: fields left out were not reported and keep their value. */
export interface LoadReport {
  /** 0.0–1.0, or null: the read failed, so the load is unknown. */
  readonly utilization: number | null;
  /** An agent's weight percentage (0–100): effective weight = weight × percent / 100. */
  readonly weightPercent?: number;
  readonly agentState?: AgentState;
  /** An agent's `down` (true) or `up` (false). */
  readonly agentDown?: boolean;
}

/** What a backend needs of a session to close it (on_down = close, drain deadline). */
export interface Closable {
  close(reason: EndReason, detail?: string): void;
}

/**
 * A health check's outcome as /status shows it. `result`: 'pass' / 'fail' count toward rise
 * and fall; 'local_error' is a probe that failed on lb's own resources (`detail` holds the
 * errno) and counted neither way.
 */
export interface LastCheck {
  readonly ok: boolean;
  readonly result: 'pass' | 'fail' | 'local_error';
  readonly atMs: number;
  readonly detail: string;
  readonly durationMs: number;
  /** The role the server reported (postgres, mysql, redis checks). */
  readonly role?: 'primary' | 'replica';
}

export class Backend {
  /** Identity across reloads: the canonical address text. */
  readonly key: string;
  readonly address: Address;
  weight: number;
  /** Effective state, recomputed by the pool on every change of `healthy` or `draining`. */
  state: BackendState;
  /** Health as the prober (or its absence) sees it. */
  healthy: boolean;
  /** Draining: by the admin API, or because a reload removed it. */
  draining = false;
  /** Removed from the config by a reload: leaves the pool once its sessions are gone. */
  removed = false;
  /** Sessions currently open to this backend. */
  active = 0;
  /** Sessions ever opened (successful connects). */
  total = 0;
  /** Bytes client → backend. */
  bytesIn = 0;
  /** Bytes backend → client. */
  bytesOut = 0;
  connectFailures = 0;
  /** Open sessions, so on_down = close and drain deadlines can reach them. */
  readonly sessions = new Set<Closable>();
  /** Outcome of the last health probe, if any. */
  lastCheck: LastCheck | null = null;
  checksPassed = 0;
  checksFailed = 0;
  /** Server-reported utilization 0.0–1.0 ([pools.NAME.load]); null while unknown. */
  utilization: number | null = null;
  /** An agent's weight percentage; null: none reported (100%). */
  weightPercent: number | null = null;
  agentState: AgentState = 'ready';
  agentDown = false;

  constructor(address: Address, weight: number, healthy = true) {
    this.key = address.text;
    this.address = address;
    this.weight = weight;
    this.healthy = healthy;
    this.state = healthy ? 'up' : 'down';
  }

  /** The weight selectors use: the configured weight scaled by an agent's percentage. */
  get effectiveWeight(): number {
    return this.weightPercent === null ? this.weight : (this.weight * this.weightPercent) / 100;
  }

  /** The state `healthy`, `draining` and an agent's word imply. */
  computeState(): BackendState {
    if (this.draining || this.agentState !== 'ready') return 'draining';
    return this.healthy && !this.agentDown ? 'up' : 'down';
  }
}
