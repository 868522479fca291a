// Which data path a listener runs on ([global] datapath): `native` (lb's addons: the epoll
// TCP relay, batched UDP; Linux) or `portable` (node:net and node:dgram, public API only).
// `auto` is native where the addon loaded, else portable. The choice is made when a listener
// is created and written in its 'listening' line, with the reason when native was wanted
// and is not there.
import type { ListenerConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { Pool } from '../pool/pool.js';
import { type ConnectionBudget, fdBudget } from './budget.js';
import { ListenerBase } from './listener-base.js';
import { tcpRelay, tcpRelayReason } from './tcp/tcp-relay.js';
import { batchUdp, batchUdpReason } from './udp/batch-udp.js';

export type PathInUse = 'native' | 'portable';

/** A listener on a data path (tcp, udp). */
export abstract class PathListener extends ListenerBase {
  /** The data path of this listener's sessions, fixed when it is created. */
  readonly datapath: PathInUse;
  /** Why native is not in use although it was wanted (auto or native); null otherwise. */
  private readonly pathReason: string | null = null;

  constructor(protocol: 'tcp' | 'udp', config: ListenerConfig, pool: Pool, budget: ConnectionBudget, log: Logger) {
    super(protocol, config, pool, budget, log);
    const loaded = protocol === 'tcp' ? tcpRelay !== null : batchUdp !== null;
    this.datapath = config.datapath !== 'portable' && loaded ? 'native' : 'portable';
    if (config.datapath !== 'portable' && !loaded) this.pathReason = (protocol === 'tcp' ? tcpRelayReason : batchUdpReason) ?? 'not loaded';
  }

  /** The path stays: a reload that asks for another one is told so. */
  protected override adopt(config: ListenerConfig, pool: Pool): ListenerConfig {
    if (config.datapath !== this.config.datapath) {
      this.log.warn({ datapath: this.datapath, wanted: config.datapath }, 'datapath changes apply to listeners opened after it (restart to move this one)');
    }
    return super.adopt(config, pool);
  }

  abstract boundAddress(): string;

  /**
   * Bound: lb's descriptors outside sessions are measured again, and the 'listening' line
   * (info) says the path, with `reason` when native was wanted and is not loaded; an explicit
   * `datapath = "native"` that could not be had also gets a warning of its own.
   */
  protected listening(): void {
    fdBudget.measure();
    const fields = { bind: this.boundAddress(), protocol: this.protocol, pool: this.pool.name, datapath: this.datapath };
    const reason = this.pathReason;
    if (reason === null) {
      this.log.info(fields, 'listening');
      return;
    }
    if (this.config.datapath === 'native') this.log.warn({ datapath: this.datapath, reason }, 'native data path wanted but not loaded');
    this.log.info({ ...fields, reason }, 'listening');
  }
}
