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
