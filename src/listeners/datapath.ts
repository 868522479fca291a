// Which data path a listener runs on ([global] datapath): `native` (lb's addons: the epoll
// TCP relay, batched UDP; Linux) or `portable` (node:net and node:dgram, public API only).
// `auto` is native where the addon loaded, else portable. The choice is made when a listener
// is created and written in its 'listening' line, with the reason when native was wanted
// and is not there.
import type { Datapath } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import { tcpRelay, tcpRelayReason } from './tcp/tcp-relay.js';
import { batchUdp, batchUdpReason } from './udp/batch-udp.js';

export type PathInUse = 'native' | 'portable';

export interface PathChoice {
  readonly path: PathInUse;
  /** Why native is not in use although it was wanted (auto or native); null otherwise. */
  readonly reason: string | null;
}

export function choosePath(wanted: Datapath, protocol: 'tcp' | 'udp'): PathChoice {
  if (wanted === 'portable') return { path: 'portable', reason: null };
  const loaded = protocol === 'tcp' ? tcpRelay !== null : batchUdp !== null;
  if (loaded) return { path: 'native', reason: null };
  return { path: 'portable', reason: (protocol === 'tcp' ? tcpRelayReason : batchUdpReason) ?? 'not loaded' };
}

/**
 * The listener's 'listening' line (info), with `datapath` and, when native was wanted and is
 * not loaded, `reason`; an explicit `datapath = "native"` that could not be had also gets a
 * warning of its own.
 */
export function logListening(log: Logger, fields: Record<string, unknown>, wanted: Datapath, reason: string | null): void {
  if (reason === null) {
    log.info(fields, 'listening');
    return;
  }
  if (wanted === 'native') log.warn({ datapath: fields['datapath'], reason }, 'native data path wanted but not loaded');
  log.info({ ...fields, reason }, 'listening');
}
