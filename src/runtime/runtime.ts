// The runtime owns every live object (pools, listeners, the global budget) and applies a
// validated Config to them. Nothing else creates or closes listeners.
import type { Config } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { EndReason } from '../log/end-reason.js';
import { Pool } from '../pool/pool.js';
import { createListener, type Listener } from '../listeners/listener.js';
import { ConnectionBudget } from './limits.js';

export class Runtime {
  config: Config;
  readonly pools = new Map<string, Pool>();
  readonly listeners = new Map<string, Listener>();
  readonly budget: ConnectionBudget;
  readonly log: Logger;
  private stopping: Promise<void> | null = null;

  constructor(config: Config, log: Logger) {
    this.config = config;
    this.log = log;
    this.budget = new ConnectionBudget(config.global.maxConnections);
  }

  /** Build pools and listeners and bind every listener; on a bind failure close what opened and throw. */
  async start(): Promise<void> {
    for (const pc of this.config.pools) this.pools.set(pc.name, new Pool(pc, this.log));
    try {
      for (const lc of this.config.listeners) {
        const listener = await createListener(lc, this.pools.get(lc.pool)!, this.budget, this.log);
        this.listeners.set(lc.name, listener);
        await listener.listen();
      }
    } catch (err) {
      await Promise.all([...this.listeners.values()].map((l) => l.drain(0, 'shutdown')));
      this.listeners.clear();
      throw err;
    }
  }

  /** Active sessions across all listeners. */
  get activeSessions(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.activeSessions;
    return n;
  }

  /**
   * Graceful stop: stop accepting everywhere, let sessions finish for up to `drainTimeoutMs`,
   * close the rest as `shutdown`. Idempotent; a second call with 0 shortens the wait.
   */
  async stop(drainTimeoutMs: number = this.config.global.drainTimeoutMs, reason: EndReason = 'shutdown'): Promise<void> {
    const deadline = performance.now() + drainTimeoutMs;
    const all = Promise.all([...this.listeners.values()].map((l) => l.drain(deadline, reason))).then(() => undefined);
    if (this.stopping === null) {
      this.log.info({ drain_timeout_ms: drainTimeoutMs, active: this.activeSessions }, 'stopping');
      this.stopping = all;
    }
    await all;
  }
}
