// The prober: one per pool with a [health] section, made and wired by the runtime (a pool
// never builds its own). Each backend has its own chain of probes, one in flight at a time,
// every `interval` with ±10% jitter so that hundreds of probes do not fire in the same tick
// (Envoy's interval_jitter), on the schedule shared with the load reader (schedule.ts).
// Results feed the backend's Hysteresis; only transitions reach the pool, through
// Pool.healthChanged. Passive failures (a connect that failed while serving a client) are
// recorded at once, without waiting for the next probe. A probe that fails on lb's own
// resources (EMFILE, ENOBUFS, ...) counts neither way: the hysteresis and the backend's
// state stay as they were, the error is counted, and a warning is logged at most once a second.
import type { HealthConfig } from '../config/types.js';
import type { Backend } from '../pool/backend.js';
import type { PassiveHealth, Pool } from '../pool/pool.js';
import { countLocalError, isLocalError } from '../local-errors.js';
import { Hysteresis } from './hysteresis.js';
import { JitteredSchedule } from './schedule.js';
import { checkBackend } from './check.js';
import type { CheckResult } from './conversation.js';
import { udpProbe } from './udp-probe.js';

/** What a prober needs of its pool: the backends, a logger, and the one way to change health. */
export type ProbedPool = Pick<Pool, 'backends' | 'log' | 'healthChanged'>;

/** One attempt against `b` with the pool's health settings; resolves, never rejects. */
export type BackendProbeFn = (b: Backend, cfg: HealthConfig, signal: AbortSignal) => Promise<CheckResult>;

/** The section's check over TCP: a connect (plus send/expect), or a protocol's dialogue (check.ts). */
export const tcpBackendProbe: BackendProbeFn = (b, cfg, signal) => checkBackend(b, cfg, signal);
/** One datagram query (send/expect) for pools behind udp listeners, on the section's `port` when it names one. */
export const udpBackendProbe: BackendProbeFn = (b, cfg, signal) =>
  udpProbe({ host: b.address.host, port: cfg.port ?? b.address.port, timeoutMs: cfg.timeoutMs, send: cfg.send, expect: cfg.expect }, signal);

export interface ProberOptions {
  /** The probe to run (default: tcpBackendProbe). */
  readonly probe?: BackendProbeFn;
  /** Clock for the local-error warning's once-a-second limit (default: performance.now). */
  readonly now?: () => number;
}

/** Local-error warnings: at most one per pool per this long (the rest are counted in it). */
const LOCAL_WARN_INTERVAL_MS = 1000;

interface BackendProbe {
  readonly backend: Backend;
  readonly hysteresis: Hysteresis;
  /** The chain of probes; stopping it aborts the one in flight. */
  readonly schedule: JitteredSchedule<CheckResult>;
}

export class Prober implements PassiveHealth {
  private config: HealthConfig;
  private readonly pool: ProbedPool;
  private readonly probes = new Map<Backend, BackendProbe>();
  private readonly probe: BackendProbeFn;
  private readonly now: () => number;
  /** When the last local-error warning was logged, and how many local errors came since. */
  private localWarnAtMs = -Infinity;
  private localSinceWarn = 0;

  constructor(config: HealthConfig, pool: ProbedPool, options: ProberOptions = {}) {
    this.config = config;
    this.pool = pool;
    this.probe = options.probe ?? tcpBackendProbe;
    this.now = options.now ?? (() => performance.now());
  }

  /** Start probing `b` (idempotent). The first probe runs soon, so new backends come up fast. */
  add(b: Backend): void {
    if (this.probes.has(b)) return;
    const p: BackendProbe = {
      backend: b,
      hysteresis: new Hysteresis(this.config.rise, this.config.fall, b.healthy),
      schedule: new JitteredSchedule(
        () => this.config.intervalMs,
        (signal) => this.probe(b, this.config, signal),
        (result) => this.apply(p, result),
      ),
    };
    this.probes.set(b, p);
  }

  /** Stop probing `b`; an in-flight probe's result is dropped. */
  remove(b: Backend): void {
    const p = this.probes.get(b);
    if (!p) return;
    p.schedule.stop();
    this.probes.delete(b);
  }

  /**
   * Follow the pool's membership: probe every backend still in its config (a new one from
   * its current health: down until `rise` passes), stop probing removed or forgotten ones.
   * O(n) in backends; called at start and after each reconfigure.
   */
  sync(): void {
    const current = new Set<Backend>();
    for (const b of this.pool.backends) {
      if (b.removed) continue;
      current.add(b);
      this.add(b);
    }
    for (const b of [...this.probes.keys()]) if (!current.has(b)) this.remove(b);
  }

  /** New health settings (reload): backends keep their current health; rise/fall apply from now. */
  reconfigure(config: HealthConfig): void {
    this.config = config;
    for (const p of this.probes.values()) {
      p.hysteresis.rise = config.rise;
      p.hysteresis.fall = config.fall;
    }
  }

  /** PassiveHealth: a connect to `b` failed while serving a client; counts as a failed check now. */
  recordPassiveFailure(b: Backend, detail: string): void {
    const p = this.probes.get(b);
    if (!p || isLocalError(detail)) return;
    this.apply(p, { ok: false, detail: `connect failed while proxying: ${detail}`, durationMs: 0 });
  }

  stop(): void {
    for (const b of [...this.probes.keys()]) this.remove(b);
  }

  private apply(p: BackendProbe, result: CheckResult): void {
    const b = p.backend;
    const durationMs = Math.round(result.durationMs);
    const log = this.pool.log;
    if (log.isLevelEnabled('debug')) {
      log.debug({ backend: b.key, ok: result.ok, detail: result.detail, duration_ms: durationMs, ...(result.localError ? { local_error: true } : {}) }, 'health check');
    }
    if (result.localError === true) {
      b.lastCheck = { ok: false, result: 'local_error', atMs: Date.now(), detail: result.detail, durationMs };
      this.localError(b, result.detail);
      return;
    }
    b.lastCheck = { ok: result.ok, result: result.ok ? 'pass' : 'fail', atMs: Date.now(), detail: result.detail, durationMs, ...(result.role === undefined ? {} : { role: result.role }) };
    if (result.ok) b.checksPassed++;
    else b.checksFailed++;
    const t = p.hysteresis.record(result.ok);
    if (t !== 'unchanged') this.pool.healthChanged(b, t === 'went_up', result.detail);
  }

  /** Count a probe's local error; warn at most once per LOCAL_WARN_INTERVAL_MS for this pool. */
  private localError(b: Backend, code: string): void {
    countLocalError(code);
    this.localSinceWarn++;
    const now = this.now();
    if (now - this.localWarnAtMs < LOCAL_WARN_INTERVAL_MS) return;
    this.pool.log.warn(
      { backend: b.key, code, local_errors: this.localSinceWarn },
      "health check failed on lb's own resources; not counted against the backend",
    );
    this.localWarnAtMs = now;
    this.localSinceWarn = 0;
  }
}
