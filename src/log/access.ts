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
