// A pool: named backends, their selector, and the bookkeeping every session goes through.
// Health is wired from outside (the runtime gives a pool with a [health] section its prober):
// the pool only offers its backends, its config and healthChanged(), and tells the prober of
// passive failures through PassiveHealth. Invariants: the selector only ever sees backends
// whose state is `up`;
// `active` never goes negative; a backend object keeps its identity, health and counters for
// as long as its address stays in the pool, so reloads never flap or reset it; a removed
// backend stays (draining) until its last session ends or drain_timeout closes it.
import assert from 'node:assert/strict';
import type { Logger } from '../log/logger.js';
import type { PoolConfig } from '../config/types.js';
import { Backend, type Closable, type LoadReport } from './backend.js';
import type { PickContext, Selector } from './selectors/selector.js';
import { createSelector } from './selectors/registry.js';
import { isLocalError } from '../local-errors.js';

/** on_down = "close": sessions of a backend that went down are closed over this long. */
const CLOSE_SPREAD_MS = 1000;
const CLOSE_SPREAD_STEPS = 50;

/**
 * How a pool reaches the rest of lb when it is one copy among processes (`workers` > 1).
 * The supervisor's pools probe and tell the workers; a worker's pools (followers) probe
 * nothing and take their backends' health from the supervisor.
 */
export interface PoolLink {
  /** No prober here: health arrives through healthChanged() from the supervisor. */
  readonly follower: boolean;
  /** A connect to `key` failed while serving a client (a worker tells the supervisor). */
  connectFailed?(pool: string, key: string, detail: string): void;
  /** Health of `key` flipped here (the supervisor tells every worker). */
  healthChanged?(pool: string, key: string, healthy: boolean, why: string): void;
  /** A load reading of `key` here (the supervisor tells every worker). */
  loadReported?(pool: string, key: string, report: LoadReport): void;
  /** The admin drained or enabled `key` here (the supervisor tells every worker). */
  backendAction?(pool: string, key: string, action: 'drain' | 'enable'): void;
}

/** Passive health detection: told of connect failures while serving clients (the runtime sets the pool's prober). */
export interface PassiveHealth {
  /** A connect to `b` failed with `detail` (an errno, never a local error). */
  recordPassiveFailure(b: Backend, detail: string): void;
}

export class Pool {
  readonly name: string;
  config: PoolConfig;
  /** Every backend in config order, then removed ones still draining. */
  backends: Backend[] = [];
  /** Backends eligible for new sessions. Kept up to date on every state change. */
  upCount = 0;
  private readonly byKey = new Map<string, Backend>();
  private selector: Selector;
  /** Set by the runtime while a prober checks this pool; null without a health section. */
  passiveHealth: PassiveHealth | null = null;
  private readonly drainTimers = new Map<Backend, NodeJS.Timeout>();
  /** When each draining backend started draining (performance.now()). */
  private readonly drainSince = new Map<Backend, number>();
  private readonly spreadTimers = new Set<NodeJS.Timeout>();
  private drainTimeoutMs: number;
  readonly log: Logger;
  private readonly link: PoolLink | null;

  constructor(config: PoolConfig, log: Logger, drainTimeoutMs: number, link: PoolLink | null = null) {
    this.name = config.name;
    this.link = link;
    this.config = config;
    this.drainTimeoutMs = drainTimeoutMs;
    this.log = log.child({ pool: config.name });
    this.selector = createSelector(config.algorithm, { hashKey: config.hashKey });
    for (const bc of config.backends) {
      // A backend with a health check starts down until it has passed `rise` probes (SPEC).
      this.addBackend(new Backend(bc.address, bc.weight, config.health === undefined));
    }
    this.refresh();
  }

  /** Stop every timer this pool owns (its prober is the runtime's). Sessions are the listeners' business. */
  stop(): void {
    for (const t of this.drainTimers.values()) clearTimeout(t);
    this.drainTimers.clear();
    this.drainSince.clear();
    for (const t of this.spreadTimers) clearTimeout(t);
    this.spreadTimers.clear();
  }

  get(key: string): Backend | undefined {
    return this.byKey.get(key);
  }

  /**
   * Choose a backend for a new session; undefined when none is up (or all are in `avoid`).
   * `avoid` holds backends already tried by this session; it is never mutated.
   */
  pick(ctx: PickContext, avoid: ReadonlySet<Backend> | null): Backend | undefined {
    return this.selector.pick(ctx, avoid);
  }

  /** A session to `b` is established. */
  acquire(b: Backend, session: Closable): void {
    b.active++;
    b.total++;
    b.sessions.add(session);
    this.selector.onAcquire?.(b);
    if (b.draining) this.armDrainTimer(b);
  }

  /** A session to `b` ended. */
  release(b: Backend, session: Closable): void {
    b.active--;
    assert.ok(b.active >= 0, `backend ${b.key}: active went negative`);
    b.sessions.delete(session);
    this.selector.onRelease?.(b);
    if (b.removed && b.active === 0) this.forget(b);
  }

  /**
   * A connect to `b` failed with `detail` (an errno or "timeout") while serving a client:
   * counts against its health at once. lb's own failures (isLocalError: EMFILE, ENOBUFS,
   * EADDRNOTAVAIL, ...) say nothing about the backend and are ignored here: no failure
   * count, no passive health failure, nothing sent to the supervisor.
   */
  reportConnectFailure(b: Backend, detail: string): void {
    if (isLocalError(detail)) return;
    b.connectFailures++;
    this.passiveHealth?.recordPassiveFailure(b, detail);
    this.link?.connectFailed?.(this.name, b.key, detail);
  }

  /**
   * Health of `b` is now `healthy`, because of `why` (the probe detail that tipped it, or
   * the supervisor's word): the one way a prober changes a backend. Recomputes its state,
   * logs the transition, tells the workers (supervisor) and applies on_down = "close".
   */
  healthChanged(b: Backend, healthy: boolean, why: string): void {
    b.healthy = healthy;
    this.updateState(b, why);
    this.link?.healthChanged?.(this.name, b.key, healthy, why);
    if (!healthy && this.config.onDown === 'close' && b.sessions.size > 0) this.closeSpread(b);
  }

  /**
   * A reading of [pools.NAME.load] for `b`: utilization for the selectors and /status, and an
   * agent's weight and state. The selector is rebuilt only when the effective weight or the
   * state changed. O(n) then, O(1) otherwise.
   */
  loadReported(b: Backend, r: LoadReport): void {
    const weight = b.effectiveWeight;
    b.utilization = r.utilization;
    if (r.weightPercent !== undefined) b.weightPercent = r.weightPercent;
    if (r.agentState !== undefined) b.agentState = r.agentState;
    if (r.agentDown !== undefined) b.agentDown = r.agentDown;
    const state = b.state;
    this.updateState(b, `agent ${b.agentDown ? 'down' : b.agentState}`, false);
    if (state !== b.state || weight !== b.effectiveWeight) this.refresh();
    this.link?.loadReported?.(this.name, b.key, r);
  }

  /** Admin: stop sending new sessions to `key`; open ones live until drain_timeout. */
  drainBackend(key: string): Backend | undefined {
    const b = this.byKey.get(key);
    if (b === undefined || b.removed) return undefined;
    this.startDrain(b, 'admin drain');
    this.link?.backendAction?.(this.name, b.key, 'drain');
    return b;
  }

  /** Admin: undo drainBackend(); the backend goes back to its health-driven state. */
  enableBackend(key: string): Backend | undefined {
    const b = this.byKey.get(key);
    if (b === undefined || b.removed) return undefined;
    this.stopDrain(b);
    this.updateState(b, 'admin enable');
    this.link?.backendAction?.(this.name, b.key, 'enable');
    return b;
  }

  /**
   * Apply a new config for this pool (reload). Backends that stay keep their object, health
   * and counters; new ones start down if there is a health check; removed ones drain. The
   * runtime brings the prober in line afterwards (Prober.sync, health section changes).
   */
  reconfigure(config: PoolConfig, drainTimeoutMs: number): void {
    const old = this.config;
    this.config = config;
    this.drainTimeoutMs = drainTimeoutMs;
    if (old.algorithm !== config.algorithm || old.hashKey !== config.hashKey) {
      this.selector = createSelector(config.algorithm, { hashKey: config.hashKey });
    }
    const keep = new Set<string>();
    const order: Backend[] = [];
    for (const bc of config.backends) {
      keep.add(bc.address.text);
      let b = this.byKey.get(bc.address.text);
      if (b === undefined) {
        b = new Backend(bc.address, bc.weight, config.health === undefined);
        this.addBackend(b);
      } else if (b.removed) {
        // Back in the config while still draining from an earlier reload.
        b.removed = false;
        this.stopDrain(b);
      }
      b.weight = bc.weight;
      order.push(b);
    }
    for (const b of this.backends) {
      if (keep.has(b.key)) continue;
      order.push(b);
      if (!b.removed) {
        b.removed = true;
        this.startDrain(b, 'removed by reload');
      }
    }
    this.backends = order;
    for (const b of order) if (b.removed && b.active === 0) this.forget(b);
    for (const b of this.backends) this.updateState(b, 'reload', false);
    this.refresh();
  }

  /** Drain every backend (the pool left the config); resolves nothing, timers do the rest. */
  retire(): void {
    for (const b of this.backends) {
      if (!b.removed) {
        b.removed = true;
        this.startDrain(b, 'pool removed by reload');
      }
    }
    for (const b of [...this.backends]) if (b.active === 0) this.forget(b);
  }

  private addBackend(b: Backend): void {
    this.backends.push(b);
    this.byKey.set(b.key, b);
  }

  /** Drop a removed backend whose sessions are all gone. */
  private forget(b: Backend): void {
    // Idempotent: a session whose connect was in flight can release after the backend left.
    if (!this.backends.includes(b)) return;
    this.stopDrainTimer(b);
    this.drainSince.delete(b);
    this.backends = this.backends.filter((x) => x !== b);
    if (this.byKey.get(b.key) === b) this.byKey.delete(b.key);
    if (this.link?.follower === true) this.log.debug({ backend: b.key }, 'backend removed');
    else this.log.info({ backend: b.key }, 'backend removed');
  }

  private startDrain(b: Backend, why: string): void {
    b.draining = true;
    this.updateState(b, why);
    if (!this.drainSince.has(b)) this.drainSince.set(b, performance.now());
    this.armDrainTimer(b);
  }

  /**
   * Close what is left of a draining backend's sessions at its deadline (drain start +
   * drain_timeout). Armed when draining starts with sessions open, and again by acquire() for
   * a session whose connect was still in flight then, so it cannot outlive the deadline.
   */
  private armDrainTimer(b: Backend): void {
    if (this.drainTimers.has(b) || b.sessions.size === 0) return;
    const since = this.drainSince.get(b) ?? performance.now();
    const t = setTimeout(() => {
      this.drainTimers.delete(b);
      for (const s of [...b.sessions]) s.close('drained');
    }, Math.max(0, since + this.drainTimeoutMs - performance.now()));
    t.unref();
    this.drainTimers.set(b, t);
  }

  private stopDrain(b: Backend): void {
    b.draining = false;
    this.drainSince.delete(b);
    this.stopDrainTimer(b);
  }

  private stopDrainTimer(b: Backend): void {
    const t = this.drainTimers.get(b);
    if (t !== undefined) clearTimeout(t);
    this.drainTimers.delete(b);
  }

  /**
   * on_down = "close": close `b`'s sessions spread over about a second, so that after a
   * failover its clients do not all reconnect in the same millisecond.
   */
  private closeSpread(b: Backend): void {
    const victims = [...b.sessions];
    const steps = Math.min(victims.length, CLOSE_SPREAD_STEPS);
    const perStep = Math.ceil(victims.length / steps);
    let i = 0;
    const step = (): void => {
      for (let n = 0; n < perStep && i < victims.length; n++, i++) victims[i]!.close('backend_closed', 'backend_down');
      if (i < victims.length) {
        const t = setTimeout(() => {
          this.spreadTimers.delete(t);
          step();
        }, CLOSE_SPREAD_MS / steps);
        this.spreadTimers.add(t);
      }
    };
    this.log.warn({ backend: b.key, sessions: victims.length }, 'closing sessions of a backend that went down');
    step();
  }

  /** Recompute `b.state` from its inputs, log a transition, refresh the selector. */
  private updateState(b: Backend, why: string, refresh = true): void {
    const state = b.computeState();
    if (state === b.state) return;
    const from = b.state;
    b.state = state;
    const fields = { backend: b.key, from, to: state, why };
    // A worker's copy of a state change is the supervisor's news: logged there, once.
    if (this.link?.follower === true) this.log.debug(fields, `backend ${state}`);
    else if (state === 'down') this.log.warn(fields, 'backend down');
    else this.log.info(fields, state === 'up' ? 'backend up' : 'backend draining');
    if (refresh) this.refresh();
  }

  /** Rebuild the selector's view after a state or weight change. O(n). */
  private refresh(): void {
    const up: Backend[] = [];
    for (const b of this.backends) if (b.state === 'up') up.push(b);
    this.upCount = up.length;
    this.selector.update(up);
  }
}

