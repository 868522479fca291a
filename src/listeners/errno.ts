// libuv status codes and negative errnos → the errno names operators know (ECONNRESET, EPIPE...),
// for log lines and end-reason details of the native paths (tcp/native-path.ts, udp/batch-udp.ts).
import { getSystemErrorName } from 'node:util';

/** ECONNRESET, EPIPE... for a negative libuv status. */
export function errname(status: number): string {
  try {
    return getSystemErrorName(status);
  } catch {
    return `E${-status}`;
  }
}
