// The access line: exactly one JSON line at info per finished TCP connection or UDP session,
// with SPEC's fields (snake_case at this boundary). Hot paths call nothing here but this,
// once per session end.
import type { Logger } from './logger.js';
import type { EndReason } from './end-reason.js';

export interface AccessFields {
  client: string;
  backend: string | null;
  backend_local: string | null;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
  end: EndReason;
  /** Errno or detail behind `end` when there is one (ECONNRESET, max_connections...). */
  detail?: string;
  /** UDP only: datagrams each way. */
  packets_in?: number;
  packets_out?: number;
}

/** `log` is the listener's child logger, so `listener` is already among its bindings. */
export function logAccess(log: Logger, fields: AccessFields): void {
  log.info(fields, 'session ended');
}

/** What every session (TCP either path, UDP) knows at its end. */
export interface SessionRecord {
  readonly clientIp: string;
  readonly clientPort: number;
  readonly backend: { readonly key: string } | null;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/**
 * The access line of a finished session: built only when info is enabled, so a balancer
 * run at warn pays nothing per session for it. `extra` carries UDP's packet counts.
 */
export function logSessionEnd(
  log: Logger,
  s: SessionRecord,
  backendLocal: string | null,
  startMs: number,
  end: EndReason,
  detail: string | undefined,
  extra?: { packets_in: number; packets_out: number },
): void {
  if (!log.isLevelEnabled('info')) return;
  const ip = s.clientIp;
  logAccess(log, {
    client: ip.indexOf(':') >= 0 ? `[${ip}]:${s.clientPort}` : `${ip}:${s.clientPort}`,
    backend: s.backend === null ? null : s.backend.key,
    backend_local: backendLocal,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
    ...extra,
    duration_ms: Math.round(performance.now() - startMs),
    end,
    ...(detail === undefined ? {} : { detail }),
  });
}
