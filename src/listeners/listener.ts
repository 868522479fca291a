// The Listener role every protocol implements, and the factory that builds one by protocol.
// HTTP is loaded by dynamic import only when a config has an http listener, so the core
// never imports src/http/.
import type { ListenerConfig } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { EndReason } from '../log/end-reason.js';
import type { Pool } from '../pool/pool.js';
import type { ConnectionBudget } from './budget.js';
import { TcpListener } from './tcp/tcp-listener.js';
import { UdpListener } from './udp/udp-listener.js';

export interface Listener {
  readonly name: string;
  readonly protocol: 'tcp' | 'udp' | 'http';
  /** The config in force; replaced by reconfigure(). */
  readonly config: ListenerConfig;
  readonly pool: Pool;
  /** The listener's child logger (bindings: listener). */
  readonly log: Logger;
  /** Open the socket; rejects with BindError. */
  listen(): Promise<void>;
  /** `host:port` actually bound (OS-chosen port resolved). */
  boundAddress(): string;
  /**
   * Same bind, new settings (reload): the socket is kept; open sessions keep going.
   * `pools` holds every pool by name after the reload (http routes pick theirs from it).
   */
  reconfigure(config: ListenerConfig, pool: Pool, pools: ReadonlyMap<string, Pool>): void;
  /** Stop accepting new clients; open sessions are untouched. */
  stopAccepting(): Promise<void>;
  /** Stop accepting, wait for sessions until `deadlineMs` (performance.now()), close the rest. */
  drain(deadlineMs: number, reason: EndReason): Promise<void>;
  /** Open sessions right now. */
  readonly activeSessions: number;
  /** Sessions ever opened (TCP: admitted connections; UDP: sessions). */
  readonly sessionsTotal: number;
  /** Bytes client → backend and backend → client through this listener. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Bring bytesIn/bytesOut (and the backends') up to date, where they lag; before reading. */
  syncCounters?(): void;
}

/**
 * Build the listener for `config.protocol`. `pools` holds every pool by name (http routes
 * resolve theirs from it); `pool` is the listener's own (default) pool.
 */
export async function createListener(
  config: ListenerConfig,
  pool: Pool,
  pools: ReadonlyMap<string, Pool>,
  budget: ConnectionBudget,
  log: Logger,
): Promise<Listener> {
  switch (config.protocol) {
    case 'tcp':
      return new TcpListener(config, pool, budget, log);
    case 'udp':
      return new UdpListener(config, pool, budget, log);
    case 'http': {
      // Loaded only when a config has an http listener: the core never imports src/http/.
      const mod = (await import(HTTP_MODULE)) as { createHttpListener(c: ListenerConfig, p: Pool, ps: ReadonlyMap<string, Pool>, b: ConnectionBudget, l: Logger): Listener };
      return mod.createHttpListener(config, pool, pools, budget, log);
    }
  }
}

/** A variable, so that bundlers and the type checker do not pull src/http/ into the core. */
const HTTP_MODULE = '../http/http-listener.js';
