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

/** How a probe ends: with a result, or with the socket error `err` (detail then unused). */
type Finish = (ok: boolean, detail: string, err?: NodeJS.ErrnoException) => void;

/** The result of a probe that met `err`: a local error, or a failure of the backend. */
function errorResult(err: NodeJS.ErrnoException, durationMs: number): ProbeResult {
  const detail = err.code ?? err.message;
  return isLocalError(err.code) ? { ok: false, detail, durationMs, localError: true } : { ok: false, detail, durationMs };
}

/**
 * The one end of a probe started at `started`: the first call to the Finish wins, clears the
 * timer (`timeoutDetail` after `timeoutMs`) and the abort listener (`signal`: the prober
 * stopped, "aborted"), calls `release` for the socket and resolves.
 */
export function probeEnd(started: number, timeoutMs: number, timeoutDetail: string, signal: AbortSignal | undefined, release: () => void, resolve: (r: ProbeResult) => void): Finish {
  let done = false;
  const finish: Finish = (ok, detail, err) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    release();
    const durationMs = performance.now() - started;
    resolve(err === undefined ? { ok, detail, durationMs } : errorResult(err, durationMs));
  };
  const timer = setTimeout(() => finish(false, timeoutDetail), timeoutMs);
  const onAbort = (): void => finish(false, 'aborted');
  signal?.addEventListener('abort', onAbort);
  return finish;
}

/** Printable, bounded rendering of reply bytes for a log line. */
export function show(b: Buffer): string {
  return JSON.stringify(b.subarray(0, 64).toString('latin1'));
}

export function tcpProbe(target: ProbeTarget, signal?: AbortSignal): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    const finish = probeEnd(started, target.timeoutMs, 'timeout', signal, () => socket.destroy(), resolve);
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
