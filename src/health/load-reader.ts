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

/** What a load reader needs of its pool. */
export type LoadedPool = Pick<Pool, 'backends' | 'log' | 'loadReported'>;

const JITTER = 0.1;
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

class Reading {
  timer: NodeJS.Timeout | null = null;
  abort: AbortController | null = null;
  stopped = false;
  constructor(readonly backend: Backend) {}
}

export class LoadReader {
  private readonly readings = new Map<Backend, Reading>();

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
      const r = new Reading(b);
      this.readings.set(b, r);
      this.schedule(r, Math.random() * Math.min(this.config.intervalMs, 100));
    }
    for (const [b, r] of [...this.readings]) {
      if (current.has(b)) continue;
      this.end(r);
      this.readings.delete(b);
    }
  }

  stop(): void {
    for (const r of this.readings.values()) this.end(r);
    this.readings.clear();
  }

  private end(r: Reading): void {
    r.stopped = true;
    if (r.timer !== null) clearTimeout(r.timer);
    r.abort?.abort();
  }

  private schedule(r: Reading, delayMs: number): void {
    if (r.stopped) return;
    r.timer = setTimeout(() => void this.run(r), delayMs);
  }

  private async run(r: Reading): Promise<void> {
    r.timer = null;
    r.abort = new AbortController();
    const result = await readLoad(r.backend, this.config, this.health, r.abort.signal);
    r.abort = null;
    if (r.stopped) return;
    this.apply(r.backend, result);
    this.schedule(r, this.config.intervalMs * (1 - JITTER + 2 * JITTER * Math.random()));
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
