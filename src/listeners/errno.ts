// libuv status codes → the errno names operators know (ECONNRESET, EPIPE...), for log lines
// and end-reason details of the bare-handle paths (tcp/raw-handles.ts, udp/raw-udp.ts).
import { getSystemErrorName } from 'node:util';

/** ECONNRESET, EPIPE... for a negative libuv status. */
export function errname(status: number): string {
  try {
    return getSystemErrorName(status);
  } catch {
    return `E${-status}`;
  }
}
