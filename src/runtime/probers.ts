// The runtime's health wiring (Envoy's cluster manager wiring health checkers to clusters):
// one Prober per pool with a [health] section, made here and never by the pool. A prober
// changes a backend only through Pool.healthChanged and hears of passive failures through
// Pool.passiveHealth. Reloads keep every surviving backend's health: the prober is
// reconfigured in place, or rebuilt from the backends' current health when its kind of probe
// changes. Processes that follow a supervisor (workers) run no probers at all.
import type { Config, HealthConfig } from '../config/types.js';
import type { Pool } from '../pool/pool.js';
import { Prober, tcpBackendProbe, udpBackendProbe } from '../health/prober.js';
import { LoadReader } from '../health/load-reader.js';

interface Wired {
  readonly prober: Prober;
  /** The probe kind it was built for (see probeKind); a change rebuilds it. */
  readonly kind: string;
}

export class Probers {
  private readonly wired = new Map<Pool, Wired>();
  /** The load reader of each pool with a [load] section. */
  private readonly loads = new Map<Pool, LoadReader>();

  /** `enabled` false: a follower process, whose health comes from its supervisor. */
  constructor(private readonly enabled: boolean) {}

  /**
   * Bring `pool`'s prober in line with its config and backends (at start, after a reload's
   * reconfigure, for a new pool). `config` is the config in force, for the listeners that
   * use the pool (they decide between TCP and datagram probes).
   */
  sync(pool: Pool, config: Config): void {
    if (!this.enabled) return;
    this.syncLoad(pool);
    const health = pool.config.health;
    const w = this.wired.get(pool);
    if (health === undefined) {
      if (w === undefined) return;
      this.stopProber(pool);
      // Without a health check every backend counts as up (SPEC).
      for (const b of pool.backends) if (!b.healthy) pool.healthChanged(b, true, 'health check removed');
      return;
    }
    const kind = probeKind(pool.name, health, config);
    if (w !== undefined && w.kind === kind) {
      w.prober.reconfigure(health);
      w.prober.sync();
      return;
    }
    // New, or another kind of probe: a fresh prober starts from each backend's current health.
    if (w !== undefined) this.stopProber(pool);
    const prober = new Prober(health, pool, { probe: kind.startsWith('udp') ? udpBackendProbe : tcpBackendProbe });
    this.wired.set(pool, { prober, kind });
    pool.passiveHealth = prober;
    prober.sync();
  }

  /** Bring `pool`'s load reader in line with its [load] section (none: stop it; readings stay as they were). */
  private syncLoad(pool: Pool): void {
    const load = pool.config.load;
    const reader = this.loads.get(pool);
    if (load === undefined) {
      if (reader === undefined) return;
      reader.stop();
      this.loads.delete(pool);
      // No source any more: unknown load, full weight, and no agent's word in force.
      for (const b of pool.backends) pool.loadReported(b, { utilization: null, weightPercent: 100, agentState: 'ready', agentDown: false });
      return;
    }
    if (reader !== undefined) {
      reader.reconfigure(load, pool.config.health);
      reader.sync();
      return;
    }
    const fresh = new LoadReader(load, pool.config.health, pool);
    this.loads.set(pool, fresh);
    fresh.sync();
  }

  /** Stop probing and reading `pool` (it left the config, or lb stops); in-flight probes are aborted. */
  stop(pool: Pool): void {
    this.loads.get(pool)?.stop();
    this.loads.delete(pool);
    this.stopProber(pool);
  }

  private stopProber(pool: Pool): void {
    const w = this.wired.get(pool);
    if (w === undefined) return;
    w.prober.stop();
    this.wired.delete(pool);
    if (pool.passiveHealth === w.prober) pool.passiveHealth = null;
  }

  stopAll(): void {
    for (const pool of new Set([...this.wired.keys(), ...this.loads.keys()])) this.stop(pool);
  }
}

/**
 * Which probe a pool's [health] section means, as a key: 'udp' for a pool served only by udp
 * listeners whose tcp-type check has a send/expect payload (a datagram query), 'tcp' otherwise
 * (every other check type runs over TCP, chosen per check by check.ts); and
 * whether it has a payload, since a change of that rebuilds the prober too (as it always has).
 */
function probeKind(pool: string, health: HealthConfig, config: Config): string {
  const users = config.listeners.filter((l) => l.pool === pool);
  const payload = health.send.length > 0 || health.expect.length > 0;
  const udp = health.type === 'tcp' && payload && users.length > 0 && users.every((l) => l.protocol === 'udp');
  return `${udp ? 'udp' : 'tcp'}${payload ? '+payload' : ''}`;
}
