// A pool: named backends, their selector, and the bookkeeping every session goes through.
// Invariants: the selector only ever sees backends whose state is `up`; `active` never goes
// negative; a backend object keeps its identity (and counters) for as long as its address
// stays in the pool, so reloads and health changes never reset it.
import assert from 'node:assert/strict';
import type { Logger } from '../log/logger.js';
import type { PoolConfig } from '../config/types.js';
import { Backend, type BackendState } from './backend.js';
import type { PickContext, Selector } from './selectors/selector.js';
import { createSelector } from './selectors/registry.js';

export class Pool {
  readonly name: string;
  config: PoolConfig;
  /** Every backend in config order, plus removed ones still draining (at the end). */
  backends: Backend[] = [];
  private byKey = new Map<string, Backend>();
  private selector: Selector;
  private readonly log: Logger;

  constructor(config: PoolConfig, log: Logger) {
    this.name = config.name;
    this.config = config;
    this.log = log.child({ pool: config.name });
    this.selector = createSelector(config.algorithm, { hashKey: config.hashKey });
    for (const bc of config.backends) {
      // A backend with a health check starts down until it has passed `rise` probes (SPEC).
      const b = new Backend(bc.address, bc.weight, config.health ? 'down' : 'up');
      this.backends.push(b);
      this.byKey.set(b.key, b);
    }
    this.refresh();
  }

  /** Backends eligible for new sessions. O(1): kept up to date on every state change. */
  upCount = 0;

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
  acquire(b: Backend): void {
    b.active++;
    b.total++;
    this.selector.onAcquire?.(b);
  }

  /** A session to `b` ended. */
  release(b: Backend): void {
    b.active--;
    assert.ok(b.active >= 0, `backend ${b.key}: active went negative`);
    this.selector.onRelease?.(b);
  }

  /** A connect to `b` failed while serving a client. Health reacts to it in the prober. */
  reportConnectFailure(b: Backend): void {
    b.connectFailures++;
  }

  /** Move `b` to `state`, log the transition, and tell the selector. No-op when unchanged. */
  setState(b: Backend, state: BackendState, why: string): void {
    if (b.state === state) return;
    const from = b.state;
    b.state = state;
    const fields = { backend: b.key, from, to: state, why };
    if (state === 'down') this.log.warn(fields, 'backend down');
    else this.log.info(fields, state === 'up' ? 'backend up' : 'backend draining');
    this.refresh();
  }

  /** Rebuild the selector's view after a state or weight change. O(n). */
  private refresh(): void {
    const up: Backend[] = [];
    for (const b of this.backends) if (b.state === 'up') up.push(b);
    this.upCount = up.length;
    this.selector.update(up);
  }
}
