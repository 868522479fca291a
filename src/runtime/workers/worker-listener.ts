// The supervisor's view of a listener that its workers serve: no socket, only the config
// in force, the address the workers bound and their counters summed (refreshed before each
// /status or /metrics). It lets the runtime's reload logic and the admin API work unchanged
// in the supervisor: binds, drains and session ends happen in the workers.
import type { ListenerConfig } from '../../config/types.js';
import type { Listener } from '../../listeners/listener.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import { zeroListenerCounters, type ListenerCounters } from './messages.js';

export class WorkerListener implements Listener {
  readonly name: string;
  readonly protocol: 'tcp' | 'udp' | 'http';
  config: ListenerConfig;
  pool: Pool;
  readonly log: Logger;
  /** Summed over workers at the last refresh; read structurally by status and metrics. */
  private c: ListenerCounters = zeroListenerCounters();

  constructor(
    config: ListenerConfig,
    pool: Pool,
    log: Logger,
    private readonly bound: () => string | undefined,
  ) {
    this.name = config.name;
    this.protocol = config.protocol;
    this.config = config;
    this.pool = pool;
    this.log = log.child({ listener: config.name });
  }

  /** The workers bound it before the supervisor's runtime got here. */
  async listen(): Promise<void> {}

  boundAddress(): string {
    return this.bound() ?? this.config.bind.text;
  }

  reconfigure(config: ListenerConfig, pool: Pool): void {
    this.config = config;
    this.pool = pool;
  }

  async stopAccepting(): Promise<void> {}

  /** The workers drain their own sessions; nothing is open here. */
  async drain(): Promise<void> {}

  setCounters(c: ListenerCounters): void {
    this.c = c;
  }

  get activeSessions(): number {
    return this.c.active;
  }
  get sessionsTotal(): number {
    return this.c.total;
  }
  get bytesIn(): number {
    return this.c.bytesIn;
  }
  get bytesOut(): number {
    return this.c.bytesOut;
  }
  get denied(): number {
    return this.c.denied;
  }
  get datagramsIn(): number {
    return this.c.datagramsIn;
  }
  get datagramsOut(): number {
    return this.c.datagramsOut;
  }
  get drops(): ListenerCounters['drops'] {
    return this.c.drops;
  }
  get requestsTotal(): number {
    return this.c.requestsTotal;
  }
  get activeRequests(): number {
    return this.c.activeRequests;
  }
  get rateLimited(): number {
    return this.c.rateLimited;
  }
}
