// GET /metrics: Prometheus text exposition through prom-client. The hot path only increments
// plain number fields; every metric here is filled from those fields at scrape time
// (collect()), so scraping costs the data path nothing between scrapes.
// Naming: lb_ prefix, base units, _total for counters; labels listener / pool / backend.
// Direction: in = client → backend, out = backend → client (as everywhere in lb).
import client from 'prom-client';
import type { AdminTarget } from './admin-target.js';
import type { UdpListener } from '../listeners/udp/udp-listener.js';
import type { Listener } from '../listeners/listener.js';
import type { Backend } from '../pool/backend.js';

const { Registry, Counter, Gauge, collectDefaultMetrics } = client;

export function createMetrics(runtime: AdminTarget): InstanceType<typeof Registry> {
  const register = new Registry();
  // Standard process_* and nodejs_* names, unprefixed, so stock Node.js dashboards work.
  collectDefaultMetrics({ register });
  const listeners = (): Listener[] => [...runtime.listeners.values()];
  const backends = (): Array<{ pool: string; b: Backend }> => {
    const out: Array<{ pool: string; b: Backend }> = [];
    for (const p of runtime.pools.values()) for (const b of p.backends) out.push({ pool: p.name, b });
    return out;
  };

  const listenerGauge = (name: string, help: string, value: (l: Listener) => number): void => {
    new Gauge({
      name, help, labelNames: ['listener', 'protocol'], registers: [register],
      collect() {
        this.reset();
        for (const l of listeners()) this.set({ listener: l.name, protocol: l.protocol }, value(l));
      },
    });
  };
  const listenerCounter = (name: string, help: string, value: (l: Listener) => number): void => {
    new Counter({
      name, help, labelNames: ['listener', 'protocol'], registers: [register],
      collect() {
        this.reset();
        for (const l of listeners()) this.inc({ listener: l.name, protocol: l.protocol }, value(l));
      },
    });
  };
  listenerGauge('lb_listener_active_sessions', 'Open TCP connections or UDP sessions of the listener.', (l) => l.activeSessions);
  listenerCounter('lb_listener_sessions_total', 'TCP connections admitted or UDP sessions opened by the listener.', (l) => l.sessionsTotal);
  listenerCounter('lb_listener_in_bytes_total', 'Bytes from clients to backends through the listener.', (l) => l.bytesIn);
  listenerCounter('lb_listener_out_bytes_total', 'Bytes from backends to clients through the listener.', (l) => l.bytesOut);
  new Counter({
    name: 'lb_listener_denied_total', help: 'TCP clients refused at accept (ACL, limits, shutdown).', labelNames: ['listener'], registers: [register],
    collect() {
      this.reset();
      for (const l of listeners()) if (l.protocol === 'tcp') this.inc({ listener: l.name }, (l as unknown as { denied: number }).denied);
    },
  });
  new Counter({
    name: 'lb_udp_datagrams_total', help: 'UDP datagrams through the listener, by direction (in = from clients).', labelNames: ['listener', 'direction'], registers: [register],
    collect() {
      this.reset();
      for (const l of listeners()) {
        if (l.protocol !== 'udp') continue;
        const u = l as unknown as UdpListener;
        this.inc({ listener: l.name, direction: 'in' }, u.datagramsIn);
        this.inc({ listener: l.name, direction: 'out' }, u.datagramsOut);
      }
    },
  });
  new Counter({
    name: 'lb_udp_dropped_datagrams_total', help: 'UDP datagrams from new clients dropped, by reason.', labelNames: ['listener', 'reason'], registers: [register],
    collect() {
      this.reset();
      for (const l of listeners()) {
        if (l.protocol !== 'udp') continue;
        const d = (l as unknown as UdpListener).drops;
        this.inc({ listener: l.name, reason: 'denied' }, d.denied);
        this.inc({ listener: l.name, reason: 'limit' }, d.limit);
        this.inc({ listener: l.name, reason: 'no_backend' }, d.noBackend);
        this.inc({ listener: l.name, reason: 'closing' }, d.closing);
      }
    },
  });

  // HTTP listeners (read structurally: the core does not import src/http/).
  const httpField = (l: Listener, f: 'requestsTotal' | 'rateLimited' | 'activeRequests'): number =>
    (l as unknown as Record<string, number | undefined>)[f] ?? 0;
  new Counter({
    name: 'lb_http_requests_total', help: 'HTTP requests received by http listeners.', labelNames: ['listener'], registers: [register],
    collect() {
      this.reset();
      for (const l of listeners()) if (l.protocol === 'http') this.inc({ listener: l.name }, httpField(l, 'requestsTotal'));
    },
  });
  new Counter({
    name: 'lb_http_rate_limited_total', help: 'HTTP requests answered 429 by a route rate limit.', labelNames: ['listener'], registers: [register],
    collect() {
      this.reset();
      for (const l of listeners()) if (l.protocol === 'http') this.inc({ listener: l.name }, httpField(l, 'rateLimited'));
    },
  });
  new Gauge({
    name: 'lb_http_active_requests', help: 'HTTP requests and tunnels in flight.', labelNames: ['listener'], registers: [register],
    collect() {
      this.reset();
      for (const l of listeners()) if (l.protocol === 'http') this.set({ listener: l.name }, httpField(l, 'activeRequests'));
    },
  });

  const backendMetric = (kind: 'gauge' | 'counter', name: string, help: string, value: (b: Backend) => number): void => {
    if (kind === 'gauge') {
      new Gauge({
        name, help, labelNames: ['pool', 'backend'], registers: [register],
        collect() {
          this.reset();
          for (const { pool, b } of backends()) this.set({ pool, backend: b.key }, value(b));
        },
      });
    } else {
      new Counter({
        name, help, labelNames: ['pool', 'backend'], registers: [register],
        collect() {
          this.reset();
          for (const { pool, b } of backends()) this.inc({ pool, backend: b.key }, value(b));
        },
      });
    }
  };
  backendMetric('gauge', 'lb_backend_active_sessions', 'Open sessions to the backend.', (b) => b.active);
  backendMetric('counter', 'lb_backend_sessions_total', 'Sessions ever established to the backend.', (b) => b.total);
  backendMetric('counter', 'lb_backend_in_bytes_total', 'Bytes from clients to the backend.', (b) => b.bytesIn);
  backendMetric('counter', 'lb_backend_out_bytes_total', 'Bytes from the backend to clients.', (b) => b.bytesOut);
  backendMetric('counter', 'lb_backend_connect_failures_total', 'Failed connects to the backend while serving clients.', (b) => b.connectFailures);
  backendMetric('gauge', 'lb_backend_up', '1 when the backend takes new sessions (state up), else 0.', (b) => (b.state === 'up' ? 1 : 0));
  backendMetric('gauge', 'lb_backend_weight', 'Configured weight.', (b) => b.weight);
  new Gauge({
    name: 'lb_backend_state', help: '1 for the backend\'s current state (up, down, draining), 0 for the others.', labelNames: ['pool', 'backend', 'state'], registers: [register],
    collect() {
      this.reset();
      for (const { pool, b } of backends()) for (const state of ['up', 'down', 'draining']) this.set({ pool, backend: b.key, state }, b.state === state ? 1 : 0);
    },
  });
  new Counter({
    name: 'lb_health_checks_total', help: 'Health probes run, by result.', labelNames: ['pool', 'backend', 'result'], registers: [register],
    collect() {
      this.reset();
      for (const { pool, b } of backends()) {
        this.inc({ pool, backend: b.key, result: 'pass' }, b.checksPassed);
        this.inc({ pool, backend: b.key, result: 'fail' }, b.checksFailed);
      }
    },
  });
  new Counter({
    name: 'lb_reloads_total', help: 'Config reloads (SIGHUP or POST /reload), by outcome.', labelNames: ['outcome'], registers: [register],
    collect() {
      this.reset();
      this.inc({ outcome: 'applied' }, runtime.reloads.applied);
      this.inc({ outcome: 'rejected' }, runtime.reloads.rejected);
    },
  });
  new Counter({
    name: 'lb_local_errors_total',
    help: "Failures of lb's own resources (descriptors, buffers, memory, local ports), by errno; never counted against a backend.",
    labelNames: ['code'], registers: [register],
    collect() {
      this.reset();
      for (const [code, n] of runtime.localErrorCounts()) this.inc({ code }, n);
    },
  });
  new Gauge({
    name: 'lb_active_sessions', help: 'Open sessions across all listeners (the global max_connections budget in use).', registers: [register],
    collect() {
      this.set(runtime.activeSessions);
    },
  });
  return register;
}
