// The admin API (only where [admin] is set): GET /healthz, /status, /metrics;
// POST /pools/NAME/backends/ADDRESS/drain|enable; POST /reload (the SIGHUP path).
// JSON errors: unknown route 404, wrong method 405 (with Allow), unknown pool/backend 404.
// It has no authentication: bind it to loopback (the example does). It reads and asks the
// balancer only through AdminTarget; AdminService opens and moves it with the config.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Address } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { AdminTarget } from './admin-target.js';
import { BindError } from '../errors.js';
import { formatHostPort } from '../listeners/admission.js';
import { formatProblem } from '../config/validate.js';
import { parseAddress } from '../config/address.js';
import { buildStatus } from './status.js';
import { createMetrics } from './metrics.js';

const BACKEND_ROUTE = /^\/pools\/([^/]+)\/backends\/([^/]+)\/(drain|enable)$/;

export class AdminServer {
  private readonly server: http.Server;
  private readonly log: Logger;
  private readonly metrics: ReturnType<typeof createMetrics>;

  constructor(
    private readonly runtime: AdminTarget,
    readonly bind: Address,
    log: Logger,
  ) {
    this.log = log.child({ component: 'admin' });
    this.metrics = createMetrics(runtime);
    this.server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, this.onRequest);
    this.server.on('clientError', (_err, socket) => socket.destroy());
    this.server.on('error', (err: NodeJS.ErrnoException) => this.log.error({ code: err.code }, 'admin server error'));
  }

  async listen(): Promise<void> {
    const listening = once(this.server, 'listening');
    this.server.listen({ host: this.bind.host === '' ? undefined : this.bind.host, port: this.bind.port });
    try {
      await listening;
    } catch (err) {
      throw new BindError('admin', this.bind.text, err as NodeJS.ErrnoException);
    }
    this.log.info({ bind: this.boundAddress() }, 'admin listening');
  }

  boundAddress(): string {
    const a = this.server.address();
    return a !== null && typeof a !== 'string' ? formatHostPort(a.address, a.port) : this.bind.text;
  }

  get port(): number {
    const a = this.server.address();
    return a !== null && typeof a !== 'string' ? a.port : 0;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    await closed;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    this.route(req, res).catch((err: Error) => {
      this.log.error({ err: { message: err.message } }, 'admin request failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const method = req.method ?? 'GET';
    const only = (allowed: string): boolean => {
      const ok = allowed.split(', ').includes(method);
      if (!ok) {
        res.setHeader('Allow', allowed);
        json(res, 405, { error: `method ${method} not allowed on ${path}`, allow: allowed });
      }
      return ok;
    };
    if (path === '/healthz') {
      if (!only('GET, HEAD')) return;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok');
      return;
    }
    if (path === '/status') {
      if (!only('GET, HEAD')) return;
      await this.runtime.beforeReport();
      json(res, 200, buildStatus(this.runtime, this.runtime.version));
      return;
    }
    if (path === '/metrics') {
      if (!only('GET, HEAD')) return;
      await this.runtime.beforeReport();
      const body = await this.metrics.metrics();
      res.writeHead(200, { 'content-type': this.metrics.contentType }).end(body);
      return;
    }
    if (path === '/reload') {
      if (!only('POST')) return;
      const r = await this.runtime.reload();
      if (r.ok) json(res, 200, { ok: true, changed: r.changed, summary: r.summary });
      else json(res, 422, { ok: false, error: r.error, problems: r.problems.map(formatProblem) });
      return;
    }
    const m = BACKEND_ROUTE.exec(path);
    if (m !== null) {
      if (!only('POST')) return;
      let poolName: string;
      let address: string;
      try {
        poolName = decodeURIComponent(m[1]!);
        address = decodeURIComponent(m[2]!);
      } catch {
        json(res, 400, { error: 'bad percent-encoding in the path' });
        return;
      }
      const pool = this.runtime.pools.get(poolName);
      if (pool === undefined) {
        json(res, 404, { error: `no pool named ${JSON.stringify(poolName)}`, pools: [...this.runtime.pools.keys()] });
        return;
      }
      // Accept any spelling of the address ("[0:0::1]:5432", upper-case hex): compare canonical forms.
      const parsed = parseAddress(address, 'backend');
      if (parsed.ok) address = parsed.value.text;
      const b = m[3] === 'drain' ? pool.drainBackend(address) : pool.enableBackend(address);
      if (b === undefined) {
        json(res, 404, { error: `pool ${poolName} has no backend ${JSON.stringify(address)}`, backends: pool.backends.filter((x) => !x.removed).map((x) => x.key) });
        return;
      }
      this.log.info({ pool: poolName, backend: b.key, action: m[3] }, 'admin backend action');
      json(res, 200, { pool: poolName, backend: b.key, state: b.state, active: b.active });
      return;
    }
    json(res, 404, { error: `no route ${path}`, routes: ['/healthz', '/status', '/metrics', '/reload', '/pools/NAME/backends/ADDRESS/drain', '/pools/NAME/backends/ADDRESS/enable'] });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
}
