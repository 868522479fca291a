// One TCP probe: connect within `timeoutMs`; optionally write `send`; optionally require the
// reply to start with `expect`. Resolves with a result and never rejects; the socket and the
// timer are released on every path (a probe must never leak). A failure of lb's own resources
// (EMFILE, ENOBUFS, ...) is marked `localError`: it says nothing about the backend.
import net from 'node:net';
import { isLocalError } from '../local-errors.js';

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  readonly send: Buffer;
  readonly expect: Buffer;
}

export interface ProbeResult {
  readonly ok: boolean;
  /** "ok", an errno ("ECONNREFUSED"), "timeout", or "unexpected reply: ..." */
  readonly detail: string;
  readonly durationMs: number;
  /**
   * The probe failed on lb's own resources (isLocalError: EMFILE, ENFILE, ENOBUFS, ENOMEM,
   * EADDRNOTAVAIL; `detail` is the errno). Never counted for or against the backend.
   */
  readonly localError?: true;
}

/** The result of a probe that met `err`: a local error, or a failure of the backend. */
export function errorResult(err: NodeJS.ErrnoException, durationMs: number): ProbeResult {
  const detail = err.code ?? err.message;
  return isLocalError(err.code) ? { ok: false, detail, durationMs, localError: true } : { ok: false, detail, durationMs };
}

/** Printable, bounded rendering of reply bytes for a log line. */
function show(b: Buffer): string {
  return JSON.stringify(b.subarray(0, 64).toString('latin1'));
}

/** `signal` aborts an in-flight probe (the prober stopped): it resolves as failed, "aborted". */
export function tcpProbe(target: ProbeTarget, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    let received: Buffer = Buffer.alloc(0);
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    const finish = (ok: boolean, detail: string, err?: NodeJS.ErrnoException): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      const durationMs = performance.now() - started;
      resolve(err === undefined ? { ok, detail, durationMs } : errorResult(err, durationMs));
    };
    const timer = setTimeout(() => finish(false, 'timeout'), target.timeoutMs);
    const onAbort = (): void => finish(false, 'aborted');
    signal?.addEventListener('abort', onAbort);
    socket.on('error', (err: NodeJS.ErrnoException) => finish(false, '', err));
    socket.on('connect', () => {
      if (target.send.length > 0) socket.write(target.send);
      if (target.expect.length === 0) finish(true, 'ok');
    });
    socket.on('data', (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const n = Math.min(received.length, target.expect.length);
      if (!received.subarray(0, n).equals(target.expect.subarray(0, n))) {
        finish(false, `unexpected reply: ${show(received)}`);
      } else if (received.length >= target.expect.length) {
        finish(true, 'ok');
      }
    });
    socket.on('end', () => finish(false, received.length === 0 ? 'closed without reply' : `short reply: ${show(received)}`));
    socket.on('close', () => finish(false, 'closed'));
  });
}
