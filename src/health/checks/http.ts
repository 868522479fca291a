// HTTP health check: `GET path HTTP/1.1` with `Connection: close`; passes when the status is
// `expect_status` (Patroni answers /primary with 200 on the leader and 503 elsewhere; a game
// server's /health). Only the status line is read; the body is not waited for.
import { failed, type Dialogue, type Verdict } from '../conversation.js';

export interface HttpCheck {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly expectStatus: number;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: [^\r\n]*)?$/;
/** A status line longer than this is not a health answer. */
const STATUS_LINE_MAX = 8192;

export function httpRequest(c: HttpCheck): Buffer {
  const host = c.host.includes(':') ? `[${c.host}]:${c.port}` : `${c.host}:${c.port}`;
  return Buffer.from(`GET ${c.path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: lb-health\r\nAccept: */*\r\nConnection: close\r\n\r\n`, 'latin1');
}

export function httpDialogue(c: HttpCheck): Dialogue {
  return {
    hello: httpRequest(c),
    goodbye: Buffer.alloc(0),
    step(b): Verdict | null {
      const eol = b.indexOf('\r\n');
      if (eol < 0) return b.length > STATUS_LINE_MAX ? failed(`status line longer than ${STATUS_LINE_MAX} bytes`) : null;
      const m = STATUS_LINE.exec(b.toString('latin1', 0, eol));
      if (m === null) return failed(`not an HTTP status line: ${JSON.stringify(b.toString('latin1', 0, Math.min(eol, 64)))}`);
      const status = Number(m[1]);
      return status === c.expectStatus ? { ok: true, detail: `status ${status}` } : failed(`status ${status}, want ${c.expectStatus}`);
    },
  };
}

/** A JSON body longer than this is not a load answer. */
const LOAD_BODY_MAX = 16 * 1024;

/**
 * [pools.NAME.load] source "http": GET path, status 200, a JSON body with a number
 * "utilization" in 0.0–1.0. The body is read to its Content-Length, or until the server
 * closes (the request says Connection: close).
 */
export function httpLoadDialogue(c: Omit<HttpCheck, 'expectStatus'>): Dialogue {
  const judge = (b: Buffer, ended: boolean): Verdict | null => {
    const head = b.indexOf('\r\n\r\n');
    if (head < 0) return b.length > STATUS_LINE_MAX ? failed(`response head longer than ${STATUS_LINE_MAX} bytes`) : null;
    const lines = b.toString('latin1', 0, head).split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (m === null) return failed(`not an HTTP status line: ${JSON.stringify(lines[0]!.slice(0, 64))}`);
    if (m[1] !== '200') return failed(`status ${m[1]}, want 200`);
    const lengthLine = lines.find((l) => /^content-length:/i.test(l));
    const length = lengthLine === undefined ? null : Number(lengthLine.slice(lengthLine.indexOf(':') + 1).trim());
    if (length !== null && !(Number.isInteger(length) && length >= 0 && length <= LOAD_BODY_MAX)) return failed('bad or too large Content-Length');
    const body = b.subarray(head + 4);
    if (length !== null ? body.length < length : !ended) return body.length > LOAD_BODY_MAX ? failed(`body longer than ${LOAD_BODY_MAX} bytes`) : null;
    let u: unknown;
    try {
      u = (JSON.parse(body.toString('utf8', 0, length ?? body.length)) as { utilization?: unknown } | null)?.utilization;
    } catch {
      return failed('body is not JSON');
    }
    if (typeof u !== 'number' || !(u >= 0 && u <= 1)) return failed(`"utilization" must be a number from 0 to 1 (got ${JSON.stringify(u ?? null)})`);
    return { ok: true, detail: `utilization ${u}`, utilization: u };
  };
  return {
    hello: httpRequest({ ...c, expectStatus: 200 }),
    goodbye: Buffer.alloc(0),
    step: (b) => judge(b, false),
    atEnd: (b) => judge(b, true),
  };
}
