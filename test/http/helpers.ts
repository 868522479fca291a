// Helpers for the http listener tests: real node:http backends that describe what they
// received, a client that returns status, raw headers and body bytes, and config text.
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Test } from 'tap';

export interface Seen {
  backend: string;
  method: string;
  url: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
}

export interface TestBackend {
  server: Server;
  port: number;
  name: string;
  /** TCP connections accepted so far. */
  connections: number;
  requests: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, backend: TestBackend) => void;

/** Answers 200 with a JSON description of the request it received (body drained). */
export const describeRequest: Handler = (req, res, b) => {
  req.resume();
  req.on('end', () => {
    const seen: Seen = { backend: b.name, method: req.method!, url: req.url!, rawHeaders: req.rawHeaders, headers: req.headers };
    const body = JSON.stringify(seen);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
};

export async function startBackend(t: Test, name: string, handler: Handler = describeRequest, host = '127.0.0.1'): Promise<TestBackend> {
  const b: TestBackend = { server: null as unknown as Server, port: 0, name, connections: 0, requests: 0 };
  b.server = http.createServer((req, res) => {
    b.requests++;
    handler(req, res, b);
  });
  b.server.on('connection', () => b.connections++);
  b.server.listen(0, host);
  await once(b.server, 'listening');
  b.port = (b.server.address() as { port: number }).port;
  t.teardown(() => {
    b.server.closeAllConnections();
    b.server.close();
  });
  return b;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface RequestOptions {
  method?: string;
  path?: string;
  headers?: http.OutgoingHttpHeaders | string[];
  body?: string | Buffer;
  agent?: http.Agent | false;
  host?: string;
}

export function request(port: number, opts: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: opts.host ?? '127.0.0.1', port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers ?? {}, agent: opts.agent ?? false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The JSON a describeRequest backend answered. */
export function seen(a: Answer): Seen {
  return JSON.parse(a.body.toString()) as Seen;
}

/** An http listener "web" on 127.0.0.1:0 with default pool "main" plus extra text. */
export function httpConfig(pools: Record<string, readonly number[]>, opts: { listener?: string; routes?: string; extra?: string; poolOpts?: Record<string, string> } = {}): string {
  return `[global]
drain_timeout = "1s"

[listeners.web]
protocol = "http"
bind = "127.0.0.1:0"
pool = "main"
${opts.listener ?? ''}
${opts.routes ?? ''}
${Object.entries(pools)
  .map(
    ([name, ports]) => `[pools.${name}]
${opts.poolOpts?.[name] ?? ''}
backends = [${ports.map((p) => `{ address = "127.0.0.1:${p}" }`).join(', ')}]
`,
  )
  .join('\n')}
${opts.extra ?? ''}
`;
}

/**
 * Resolve once `cond()` holds, checking after each turn of the event loop (for state that
 * settles a few I/O callbacks after the event a test can await, e.g. the far end's 'close').
 */
export async function settled(cond: () => boolean, turns = 10_000): Promise<boolean> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return true;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return cond();
}
