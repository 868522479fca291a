// What every listener (tcp, udp, http) holds the same way: its name and protocol, the config
// and pool in force (replaced by a reload), its child logger, the ACL built from the config,
// the global budget, the closing flag, the drain wait and the byte and session counters; and
// admission of a stream client (tcp, http). The http listener extends it: the core never
// imports http/.
import type { ListenerConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Pool } from '../pool/pool.js';
import type { ConnectionBudget } from './budget.js';
import { Acl } from './admission.js';
import { DrainWait } from './drain-wait.js';

export abstract class ListenerBase {
  readonly name: string;
  config: ListenerConfig;
  pool: Pool;
  readonly log: Logger;
  protected acl: Acl;
  protected readonly budget: ConnectionBudget;
  protected closing = false;
  protected readonly drainWait = new DrainWait();
  /** Counters read by status and metrics. */
  sessionsTotal = 0;
  bytesIn = 0;
  bytesOut = 0;

  constructor(readonly protocol: 'tcp' | 'udp' | 'http', config: ListenerConfig, pool: Pool, budget: ConnectionBudget, log: Logger) {
    this.name = config.name;
    this.config = config;
    this.pool = pool;
    this.budget = budget;
    this.log = log.child({ listener: config.name });
    this.acl = new Acl(config.allow, config.deny);
  }

  /** A reload's config and pool, for new clients (open sessions keep theirs); returns the old config. */
  protected adopt(config: ListenerConfig, pool: Pool): ListenerConfig {
    const old = this.config;
    this.config = config;
    this.pool = pool;
    this.acl = new Acl(config.allow, config.deny);
    return old;
  }

  /** Admission of a stream client with `open` clients in: null admits it (a global slot taken), else why not. */
  protected admitClient(rawIp: string, family: string, open: number): string | null {
    if (this.closing) return 'shutdown';
    if (!this.acl.permits(rawIp, family)) return 'acl';
    if (open >= this.config.maxConnections) return 'listener_max_connections';
    if (!this.budget.tryAcquire()) return 'global_max_connections';
    return null;
  }
}
