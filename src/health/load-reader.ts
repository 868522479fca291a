// The load reader: one per pool with a [load] section, made and wired by the runtime beside
// its prober. Every backend is read every `interval` (±10% jitter, one read in flight at a
// time), one connection per read: postgres, mysql, redis log in with the [health] section's
// credentials and ask the server's own figures (client connections over the maximum); agent
// speaks HAProxy's agent-check protocol on `port`; http GETs `path` for {"utilization": x}.
// Each reading reaches the pool through Pool.loadReported. A failed read makes the
// utilization unknown (null) and keeps what an agent said last; a read that failed on lb's
// own resources (EMFILE...) changes nothing.
import type { HealthConfig, LoadConfig } from '../config/types.js';
import type { Backend } from '../pool/backend.js';
import type { Pool } from '../pool/pool.js';
import { dialogueOf } from './check.js';
import { converse, type CheckResult } from './conversation.js';
import { agentDialogue } from './checks/agent.js';
import { httpLoadDialogue } from './checks/http.js';
import { JitteredSchedule } from './schedule.js';

/** What a load reader needs of its pool. */
export type LoadedPool = Pick<Pool, 'backends' | 'log' | 'loadReported'>;

/** A read's deadline when the pool has no [health] section to take its timeout from. */
const DEFAULT_TIMEOUT_MS = 1000;

/** One reading of `b` as the [load] section says; resolves, never rejects. */
export function readLoad(b: Backend, cfg: LoadConfig, health: HealthConfig | undefined, signal: AbortSignal): Promise<CheckResult> {
  const host = b.address.host;
  const timeoutMs = Math.min(health?.timeoutMs ?? DEFAULT_TIMEOUT_MS, cfg.intervalMs);
  switch (cfg.source) {
    case 'agent':
      return converse({ host, port: cfg.port ?? b.address.port, timeoutMs }, agentDialogue(), signal);
    case 'http': {
      const port = cfg.port ?? b.address.port;
      return converse({ host, port, timeoutMs }, httpLoadDialogue({ host, port, path: cfg.path }), signal);
    }
    default: {
      // The server's own figures on its own port, logged in as the health check does (its
      // role is not asked for here: the health check decides up and down).
      const port = b.address.port;
      const check = { ...health!, requireRole: 'any' as const };
      return converse({ host, port, timeoutMs }, dialogueOf(check, host, port, true), signal);
    }
  }
}

export class LoadReader {
  /** Each backend's chain of reads (schedule.ts). */
  private readonly readings = new Map<Backend, JitteredSchedule<CheckResult>>();

  constructor(
    private config: LoadConfig,
    private health: HealthConfig | undefined,
    private readonly pool: LoadedPool,
  ) {}

  /** New settings (reload); readings go on from the backends' current values. */
  reconfigure(config: LoadConfig, health: HealthConfig | undefined): void {
    this.config = config;
    this.health = health;
  }

  /** Follow the pool's membership: read every backend still in its config, stop the others. */
  sync(): void {
    const current = new Set<Backend>();
    for (const b of this.pool.backends) {
      if (b.removed) continue;
      current.add(b);
      if (this.readings.has(b)) continue;
      this.readings.set(b, new JitteredSchedule(
        () => this.config.intervalMs,
        (signal) => readLoad(b, this.config, this.health, signal),
        (result) => this.apply(b, result),
      ));
    }
    for (const [b, r] of [...this.readings]) {
      if (current.has(b)) continue;
      r.stop();
      this.readings.delete(b);
    }
  }

  stop(): void {
    for (const r of this.readings.values()) r.stop();
    this.readings.clear();
  }

  private apply(b: Backend, result: CheckResult): void {
    const log = this.pool.log;
    if (log.isLevelEnabled('debug')) log.debug({ backend: b.key, ok: result.ok, detail: result.detail, utilization: result.utilization ?? null }, 'load read');
    if (result.localError === true) return;
    const a = result.ok ? result.agent : undefined;
    this.pool.loadReported(b, {
      utilization: result.ok ? (result.utilization ?? null) : null,
      ...(a?.weightPercent === undefined ? {} : { weightPercent: a.weightPercent }),
      ...(a?.state === undefined ? {} : { agentState: a.state }),
      ...(a?.down === undefined ? {} : { agentDown: a.down }),
    });
  }
}
