// GET /status: the runtime as JSON (SPEC: listeners with name, protocol, bind, active
// connections; pools with every backend's address, state, weight, active and total
// connections, bytes in/out and last health result). Built at request time from counters.
import type { AdminTarget } from './admin-target.js';
import type { UdpListener } from '../listeners/udp/udp-listener.js';

export interface BackendStatus {
  address: string;
  state: 'up' | 'down' | 'draining';
  weight: number;
  /** The weight selectors use (an agent's percentage applied). */
  effective_weight: number;
  /** Server-reported utilization 0.0–1.0, null while unknown. */
  utilization: number | null;
  /** What an agent said: ready, drain or maint. */
  agent_state: 'ready' | 'drain' | 'maint';
  active: number;
  total: number;
  bytes_in: number;
  bytes_out: number;
  connect_failures: number;
  removed: boolean;
  /** `result`: pass / fail (counted toward rise and fall), or local_error (lb's own resources; `detail` is the errno). */
  last_check: { ok: boolean; result: 'pass' | 'fail' | 'local_error'; at: string; detail: string; duration_ms: number; role?: 'primary' | 'replica' } | null;
}

export interface StatusDoc {
  version: string;
  pid: number;
  /** Processes carrying the data path (`workers`); `pid` is the one that answers here. */
  workers: number;
  uptime_s: number;
  config: string;
  reloads: { applied: number; rejected: number };
  active: number;
  listeners: Array<{
    name: string;
    protocol: string;
    bind: string;
    pool: string;
    active: number;
    total: number;
    bytes_in: number;
    bytes_out: number;
    udp?: { datagrams_in: number; datagrams_out: number; dropped: Record<string, number> };
    http?: { requests_total: number; active_requests: number; rate_limited: number };
  }>;
  pools: Array<{ name: string; algorithm: string; health: boolean; up: number; backends: BackendStatus[] }>;
}

export function buildStatus(runtime: AdminTarget, version: string): StatusDoc {
  return {
    version,
    pid: process.pid,
    workers: runtime.workers,
    uptime_s: Math.round(process.uptime()),
    config: runtime.configFile ?? runtime.config.source,
    reloads: { ...runtime.reloads },
    active: runtime.activeSessions,
    listeners: [...runtime.listeners.values()].map((l) => ({
      name: l.name,
      protocol: l.protocol,
      bind: l.boundAddress(),
      pool: l.pool.name,
      active: l.activeSessions,
      total: l.sessionsTotal,
      bytes_in: l.bytesIn,
      bytes_out: l.bytesOut,
      ...(l.protocol === 'udp'
        ? {
            udp: {
              datagrams_in: (l as UdpListener).datagramsIn,
              datagrams_out: (l as UdpListener).datagramsOut,
              dropped: {
                denied: (l as UdpListener).drops.denied,
                limit: (l as UdpListener).drops.limit,
                no_backend: (l as UdpListener).drops.noBackend,
                closing: (l as UdpListener).drops.closing,
              },
            },
          }
        : {}),
      ...(l.protocol === 'http' ? { http: httpCounters(l) } : {}),
    })),
    pools: [...runtime.pools.values()].map((p) => ({
      name: p.name,
      algorithm: p.config.algorithm,
      health: p.config.health !== undefined,
      up: p.upCount,
      backends: p.backends.map((b) => ({
        address: b.key,
        state: b.state,
        weight: b.weight,
        effective_weight: b.effectiveWeight,
        utilization: b.utilization,
        agent_state: b.agentState,
        active: b.active,
        total: b.total,
        bytes_in: b.bytesIn,
        bytes_out: b.bytesOut,
        connect_failures: b.connectFailures,
        removed: b.removed,
        last_check:
          b.lastCheck === null
            ? null
            : {
                ok: b.lastCheck.ok,
                result: b.lastCheck.result,
                at: new Date(b.lastCheck.atMs).toISOString(),
                detail: b.lastCheck.detail,
                duration_ms: b.lastCheck.durationMs,
                ...(b.lastCheck.role === undefined ? {} : { role: b.lastCheck.role }),
              },
      })),
    })),
  };
}

/**
 * HTTP listener counters, read structurally: the http module is loaded on demand and the
 * core does not import its types.
 */
function httpCounters(l: unknown): { requests_total: number; active_requests: number; rate_limited: number } {
  const h = l as { requestsTotal?: number; activeRequests?: number; rateLimited?: number };
  return { requests_total: h.requestsTotal ?? 0, active_requests: h.activeRequests ?? 0, rate_limited: h.rateLimited ?? 0 };
}
