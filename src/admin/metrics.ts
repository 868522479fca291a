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

type Put = (labels: Record<string, string>, value: number) => void;

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

  /**
   * A gauge or counter filled at scrape time: `fill` calls `put(labels, value)` once per series
   * (set on a gauge, inc on a counter, both right after a reset).
   */
  const metric = (kind: 'gauge' | 'counter', name: string, help: string, labelNames: string[], fill: (put: Put) => void): void => {
    const config = { name, help, labelNames, registers: [register] };
    if (kind === 'gauge') {
      new Gauge({
        ...config,
        collect() {
          this.reset();
          fill((labels, value) => this.set(labels, value));
        },
      });
    } else {
      new Counter({
        ...config,
        collect() {
          this.reset();
          fill((labels, value) => this.inc(labels, value));
        },
      });
    }
  };
  const listenerMetric = (kind: 'gauge' | 'counter', name: string, help: string, value: (l: Listener) => number): void =>
    metric(kind, name, help, ['listener', 'protocol'], (put) => {
      for (const l of listeners()) put({ listener: l.name, protocol: l.protocol }, value(l));
    });
  listenerMetric('gauge', 'lb_listener_active_sessions', 'Open TCP connections or UDP sessions of the listener.', (l) => l.activeSessions);
  listenerMetric('counter', 'lb_listener_sessions_total', 'TCP connections admitted or UDP sessions opened by the listener.', (l) => l.sessionsTotal);
  listenerMetric('counter', 'lb_listener_in_bytes_total', 'Bytes from clients to backends through the listener.', (l) => l.bytesIn);
  listenerMetric('counter', 'lb_listener_out_bytes_total', 'Bytes from backends to clients through the listener.', (l) => l.bytesOut);
  metric('counter', 'lb_listener_denied_total', 'TCP clients refused at accept (ACL, limits, shutdown).', ['listener'], (put) => {
    for (const l of listeners()) if (l.protocol === 'tcp') put({ listener: l.name }, (l as unknown as { denied: number }).denied);
  });
  metric('counter', 'lb_udp_datagrams_total', 'UDP datagrams through the listener, by direction (in = from clients).', ['listener', 'direction'], (put) => {
    for (const l of listeners()) {
      if (l.protocol !== 'udp') continue;
      const u = l as unknown as UdpListener;
      put({ listener: l.name, direction: 'in' }, u.datagramsIn);
      put({ listener: l.name, direction: 'out' }, u.datagramsOut);
    }
  });
  metric('counter', 'lb_udp_dropped_datagrams_total', 'UDP datagrams from new clients dropped, by reason.', ['listener', 'reason'], (put) => {
    for (const l of listeners()) {
      if (l.protocol !== 'udp') continue;
      const d = (l as unknown as UdpListener).drops;
      put({ listener: l.name, reason: 'denied' }, d.denied);
      put({ listener: l.name, reason: 'limit' }, d.limit);
      put({ listener: l.name, reason: 'no_backend' }, d.noBackend);
      put({ listener: l.name, reason: 'closing' }, d.closing);
    }
  });

  // HTTP listeners (read structurally: the core does not import src/http/).
  const httpMetric = (kind: 'gauge' | 'counter', name: string, help: string, f: 'requestsTotal' | 'rateLimited' | 'activeRequests'): void =>
    metric(kind, name, help, ['listener'], (put) => {
      for (const l of listeners()) if (l.protocol === 'http') put({ listener: l.name }, (l as unknown as Record<string, number | undefined>)[f] ?? 0);
    });
  httpMetric('counter', 'lb_http_requests_total', 'HTTP requests received by http listeners.', 'requestsTotal');
  httpMetric('counter', 'lb_http_rate_limited_total', 'HTTP requests answered 429 by a route rate limit.', 'rateLimited');
  httpMetric('gauge', 'lb_http_active_requests', 'HTTP requests and tunnels in flight.', 'activeRequests');

  const backendMetric = (kind: 'gauge' | 'counter', name: string, help: string, value: (b: Backend) => number): void =>
    metric(kind, name, help, ['pool', 'backend'], (put) => {
      for (const { pool, b } of backends()) put({ pool, backend: b.key }, value(b));
    });
  backendMetric('gauge', 'lb_backend_active_sessions', 'Open sessions to the backend.', (b) => b.active);
  backendMetric('counter', 'lb_backend_sessions_total', 'Sessions ever established to the backend.', (b) => b.total);
  backendMetric('counter', 'lb_backend_in_bytes_total', 'Bytes from clients to the backend.', (b) => b.bytesIn);
  backendMetric('counter', 'lb_backend_out_bytes_total', 'Bytes from the backend to clients.', (b) => b.bytesOut);
  backendMetric('counter', 'lb_backend_connect_failures_total', 'Failed connects to the backend while serving clients.', (b) => b.connectFailures);
  backendMetric('gauge', 'lb_backend_up', '1 when the backend takes new sessions (state up), else 0.', (b) => (b.state === 'up' ? 1 : 0));
  backendMetric('gauge', 'lb_backend_weight', 'Configured weight.', (b) => b.weight);
  backendMetric('gauge', 'lb_backend_effective_weight', 'Weight the selectors use: the configured weight scaled by an agent\'s percentage.', (b) => b.effectiveWeight);
  metric('gauge', 'lb_backend_utilization', 'Utilization 0.0-1.0 the backend reported ([pools.NAME.load]); no sample while unknown.', ['pool', 'backend'], (put) => {
    for (const { pool, b } of backends()) if (b.utilization !== null) put({ pool, backend: b.key }, b.utilization);
  });
  metric('gauge', 'lb_backend_state', '1 for the backend\'s current state (up, down, draining), 0 for the others.', ['pool', 'backend', 'state'], (put) => {
    for (const { pool, b } of backends()) for (const state of ['up', 'down', 'draining']) put({ pool, backend: b.key, state }, b.state === state ? 1 : 0);
  });
  metric('counter', 'lb_health_checks_total', 'Health probes run, by result.', ['pool', 'backend', 'result'], (put) => {
    for (const { pool, b } of backends()) {
      put({ pool, backend: b.key, result: 'pass' }, b.checksPassed);
      put({ pool, backend: b.key, result: 'fail' }, b.checksFailed);
    }
  });
  metric('counter', 'lb_reloads_total', 'Config reloads (SIGHUP or POST /reload), by outcome.', ['outcome'], (put) => {
    put({ outcome: 'applied' }, runtime.reloads.applied);
    put({ outcome: 'rejected' }, runtime.reloads.rejected);
  });
  metric(
    'counter',
    'lb_local_errors_total',
    "Failures of lb's own resources (descriptors, buffers, memory, local ports), by errno; never counted against a backend.",
    ['code'],
    (put) => {
      for (const [code, n] of runtime.localErrorCounts()) put({ code }, n);
    },
  );
  new Gauge({
    name: 'lb_active_sessions', help: 'Open sessions across all listeners (the global max_connections budget in use).', registers: [register],
    collect() {
      this.set(runtime.activeSessions);
    },
  });
  return register;
}
