// The supervisor's view of a listener that its workers serve: no socket, only the config
// in force, the address the workers bound and their counters summed (refreshed before each
// /status or /metrics). It lets the runtime's reload logic and the admin API work unchanged
// in the supervisor: binds, drains and session ends happen in the workers.
import type { ListenerConfig } from '../../config/types.js';
import type { Listener } from '../../listeners/listener.js';
import type { Logger } from '../../log/logger.js';
import type { Pool } from '../../pool/pool.js';
import type { ListenerCounters } from './messages.js';

export class WorkerListener implements Listener {
  readonly name: string;
  readonly protocol: 'tcp' | 'udp' | 'http';
  config: ListenerConfig;
  pool: Pool;
  readonly log: Logger;
  // The counters, summed over workers at the last refresh; read structurally by status and metrics.
  activeSessions = 0;
  sessionsTotal = 0;
  bytesIn = 0;
  bytesOut = 0;
  denied = 0;
  datagramsIn = 0;
  datagramsOut = 0;
  drops: ListenerCounters['drops'] = { denied: 0, limit: 0, noBackend: 0, closing: 0 };
  requestsTotal = 0;
  activeRequests = 0;
  rateLimited = 0;

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

  setCounters({ active, total, ...rest }: ListenerCounters): void {
    Object.assign(this, rest, { activeSessions: active, sessionsTotal: total });
  }
}
