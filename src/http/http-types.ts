// Shapes shared inside src/http/: what an exchange or tunnel knows of its client connection,
// what it needs from its listener, and the access line it hands back (SPEC field names).
import { STATUS_CODES, type Agent } from 'node:http';
import type { ListenerConfig } from '../config/types.js';
import type { EndReason } from '../log/end-reason.js';
import type { Backend } from '../pool/backend.js';
import type { PickContext } from '../pool/selectors/selector.js';
import type { ForwardInfo } from './hop-headers.js';

/**
 * Why a request ended: the TCP reasons, plus `complete` for a response delivered in full
 * (an HTTP exchange ends normally while both connections stay open).
 */
export type HttpEnd = EndReason | 'complete';

/** One client connection, made once at accept: doubles as the selector's PickContext. */
export interface ClientInfo extends PickContext, ForwardInfo {
  /** `ip:port` as logged. */
  readonly client: string;
}

/** The access line of one request (msg "request"); `listener` comes from the logger's bindings. */
export interface RequestLine {
  client: string;
  method: string | null;
  host: string | null;
  path: string | null;
  /** Status sent to the client; 0 when none was (client gone first, connection refused). */
  status: number;
  backend: string | null;
  /** Bytes sent to the backend (request head and body), and received from it. */
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
  end: HttpEnd;
  detail?: string;
}

/** What an exchange or a tunnel needs from its listener. */
export interface ExchangeOwner {
  readonly config: ListenerConfig;
  /** The listener is draining: answers carry `Connection: close`. */
  readonly isClosing: boolean;
  /** The keep-alive agent of `b` (one per backend, capped sockets). */
  agentFor(b: Backend): Agent;
  /** Called exactly once per exchange or tunnel, at its end. */
  exchangeEnded(x: object, line: RequestLine): void;
}

/** The fields an exchange or tunnel has at its end, turned into its one access line. */
export function requestLine(
  client: ClientInfo,
  req: { method?: string; url?: string; headers: { host?: string } },
  status: number,
  backend: Backend | null,
  bytesIn: number,
  bytesOut: number,
  startMs: number,
  end: HttpEnd,
  detail: string | undefined,
): RequestLine {
  return {
    client: client.client,
    method: req.method ?? null,
    host: req.headers.host ?? null,
    path: req.url ?? null,
    status,
    backend: backend?.key ?? null,
    bytes_in: bytesIn,
    bytes_out: bytesOut,
    duration_ms: Math.round(performance.now() - startMs),
    end,
    ...(detail === undefined ? {} : { detail }),
  };
}

/**
 * A short text answer written on a raw socket (after 'upgrade' or a clientError there is no
 * ServerResponse): status line, `headers`, a "STATUS reason" body, and the connection closes.
 */
export function rawAnswer(status: number, headers: Readonly<Record<string, string>> = {}): string {
  const reason = STATUS_CODES[status]!;
  const body = `${status} ${reason.toLowerCase()}\n`;
  let head = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return `${head}Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}
