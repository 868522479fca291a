// The supervisor (`workers` > 1): the one place that owns the config, the health checks and
// the admin API, so there is one state however many processes carry the traffic. It forks
// the workers (node:cluster), hands each the config text, and then:
// - health flips and admin drains made here are sent to every worker;
// - a reload is validated here, applied by every worker (binds happen there, through
//   cluster's shared handles), and only then applied here (pools, probers, admin);
// - /status and /metrics first gather every worker's counters (one request each), local
//   errors included (a worker's last report counts on after it exits);
// - a worker that dies is forked again with the running config and the current states;
// - SIGTERM/SIGINT stop the workers gracefully, then the supervisor exits 0.
// Listeners are shared with SCHED_NONE: each worker accepts from the kernel socket itself, so
// no connection passes through this process.
import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../../config/types.js';
import type { Logger } from '../../log/logger.js';
import { BindError } from '../../errors.js';
import { Runtime } from '../runtime.js';
import { WorkerListener } from './worker-listener.js';
import {
  addCounters, zeroListenerCounters,
  type Counters, type FromWorker, type ListenerCounters, type ToWorker, type WorkerError,
} from './messages.js';

/** How long a worker may take to answer a counters request before /status goes without it. */
const COUNTERS_TIMEOUT_MS = 2000;
/** A worker that dies is restarted, but not more often than this. */
const RESTART_MIN_INTERVAL_MS = 1000;

type Reply = Extract<FromWorker, { id: number }>;

/** One worker position (index); the process in it changes when a worker is restarted. */
class Slot {
  worker: Worker | null = null;
  started = false;
  lastStartMs = 0;
  /** Local errors of the worker in this slot, as of its last counters reply. */
  localErrors: Record<string, number> = {};
  readonly pending = new Map<number, (m: Reply | null) => void>();
  constructor(readonly index: number) {}

  send(m: ToWorker): void {
    if (this.worker !== null && this.worker.isConnected()) this.worker.send(m);
  }
}

export interface SupervisorOptions {
  readonly config: Config;
  readonly text: string;
  readonly file: string;
  readonly count: number;
  readonly version: string;
  readonly log: Logger;
}

export class Supervisor {
  readonly runtime: Runtime;
  private readonly log: Logger;
  private readonly slots: Slot[] = [];
  private readonly count: number;
  private readonly file: string;
  /** The config text every worker runs (a restarted worker gets this one). */
  private text: string;
  /** Listener name → address bound by the workers (OS-chosen ports resolved). */
  private binds: Record<string, string> = {};
  private nextId = 1;
  private stopping = false;
  /** Local errors reported by workers that have since exited (a restart starts from 0). */
  private readonly exitedLocalErrors = new Map<string, number>();

  constructor(o: SupervisorOptions) {
    this.log = o.log;
    this.count = o.count;
    this.file = o.file;
    this.text = o.text;
    for (let i = 0; i < o.count; i++) this.slots.push(new Slot(i));
    this.runtime = new Runtime(o.config, o.log, {
      configFile: o.file,
      version: o.version,
      listenerFactory: async (lc, pool, _pools, _budget, log) => new WorkerListener(lc, pool, log, () => this.binds[lc.name]),
      poolLink: {
        follower: false,
        healthChanged: (pool, key, healthy, why) => this.broadcast({ t: 'health', pool, key, healthy, why }),
        loadReported: (pool, key, report) => this.broadcast({ t: 'load', pool, key, report }),
        backendAction: (pool, key, action) => this.broadcast({ t: 'backend', pool, key, action }),
      },
      beforeApply: (text) => this.applyToWorkers(text),
      beforeReport: () => this.gatherCounters(),
      otherLocalErrors: () => this.workerLocalErrors(),
    });
    this.runtime.workers = o.count;
  }

  /** Fork every worker and wait until all are serving, then start health and admin. Throws BindError. */
  async start(): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ silent: false });
    const results = await Promise.all(this.slots.map((s) => this.fork(s)));
    const failed = results.find((r) => r !== null);
    if (failed !== undefined && failed !== null) {
      await this.stopWorkers(0);
      throw failed.listener !== undefined && failed.bind !== undefined && failed.errno !== undefined
        ? new BindError(failed.listener, failed.bind, Object.assign(new Error(failed.errno), { code: failed.errno }))
        : new Error(failed.message);
    }
    try {
      await this.runtime.start();
    } catch (err) {
      await this.stopWorkers(0);
      throw err;
    }
    this.broadcast(this.states());
    this.log.info({ workers: this.count }, 'workers started');
  }

  /** Graceful stop: workers drain up to `drainMs` (default drain_timeout) and exit; then this process. */
  async stop(drainMs?: number): Promise<void> {
    this.stopping = true;
    await this.stopWorkers(drainMs ?? this.runtime.config.global.drainTimeoutMs);
    await this.runtime.stop(0);
  }

  private async stopWorkers(drainMs: number): Promise<void> {
    const exits = this.slots.map((s) => s.worker).filter((w): w is Worker => w !== null && w.process.exitCode === null && w.process.signalCode === null)
      .map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
    this.stopping = true;
    this.broadcast({ t: 'stop', drainMs });
    await Promise.all(exits);
  }

  /** Fork the worker of `slot` and hand it the running config. Resolves with its start error, if any. */
  private fork(slot: Slot): Promise<WorkerError | null> {
    slot.lastStartMs = performance.now();
    slot.started = false;
    const w = cluster.fork({ LB_WORKER: String(slot.index + 1), LB_LOG_LEVEL: this.runtime.config.global.logLevel });
    slot.worker = w;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (err: WorkerError | null): void => {
        if (!settled) {
          settled = true;
          resolve(err);
        }
      };
      w.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'ready':
            w.send({ t: 'start', text: this.text, file: this.file, index: slot.index, count: this.count } satisfies ToWorker);
            return;
          case 'started':
            slot.started = true;
            this.binds = { ...this.binds, ...m.binds };
            settle(null);
            return;
          case 'failed':
            settle(m.error);
            return;
          case 'connect_failure': {
            const pool = this.runtime.pools.get(m.pool);
            const b = pool?.get(m.key);
            if (b !== undefined) pool!.reportConnectFailure(b, m.detail);
            return;
          }
          default: {
            const done = slot.pending.get(m.id);
            slot.pending.delete(m.id);
            done?.(m);
          }
        }
      });
      w.on('exit', (code, signal) => {
        for (const done of slot.pending.values()) done(null);
        slot.pending.clear();
        addCounts(this.exitedLocalErrors, slot.localErrors);
        slot.localErrors = {};
        if (slot.worker === w) {
          slot.worker = null;
          slot.started = false;
        }
        settle({ message: `worker ${slot.index + 1} exited before it started (code ${code ?? signal})` });
        if (this.stopping) return;
        this.log.error({ worker: slot.index + 1, pid: w.process.pid, code, signal }, 'worker exited; restarting it');
        const wait = Math.max(0, slot.lastStartMs + RESTART_MIN_INTERVAL_MS - performance.now());
        setTimeout(() => void this.restart(slot), wait).unref();
      });
    });
  }

  private async restart(slot: Slot): Promise<void> {
    if (this.stopping) return;
    const err = await this.fork(slot);
    if (err !== null) {
      this.log.error({ worker: slot.index + 1, error: err.message }, 'worker restart failed');
      return;
    }
    slot.send(this.states());
    this.log.info({ worker: slot.index + 1, pid: slot.worker?.process.pid }, 'worker restarted');
  }

  private broadcast(m: ToWorker): void {
    for (const s of this.slots) s.send(m);
  }

  /** Ask one worker and await its answer (null if it died or did not answer in time). */
  private request(slot: Slot, make: (id: number) => ToWorker, timeoutMs: number): Promise<Reply | null> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (slot.worker === null || !slot.started) {
        resolve(null);
        return;
      }
      const timer = setTimeout(() => {
        slot.pending.delete(id);
        resolve(null);
      }, timeoutMs);
      slot.pending.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      slot.send(make(id));
    });
  }

  /** Reload, step 1: every worker applies `text`; any failure rejects the reload here. */
  private async applyToWorkers(text: string): Promise<void> {
    const replies = await Promise.all(this.slots.map((s) => this.request(s, (id) => ({ t: 'apply', id, text, file: this.file }), 60_000)));
    const errors: string[] = [];
    let binds: Record<string, string> = {};
    replies.forEach((r, i) => {
      if (r === null) errors.push(`worker ${i + 1} did not answer`);
      else if (r.t === 'applied' && r.ok) binds = { ...binds, ...r.binds };
      else if (r.t === 'applied' && !r.ok) errors.push(r.error.message);
    });
    if (errors.length === replies.length) throw new Error(errors[0]);
    // The workers that applied it now run it; one that failed (it can only be one whose bind
    // failed alone, or that died meanwhile) is restarted with it so that all run one config.
    this.text = text;
    this.binds = binds;
    if (errors.length > 0) {
      this.log.error({ errors }, 'a worker failed to apply the reload; restarting it with the new config');
      replies.forEach((r, i) => {
        if (r !== null && r.t === 'applied' && !r.ok) this.slots[i]!.worker?.process.kill('SIGKILL');
      });
    }
  }

  /** Before /status and /metrics: the workers' counters, summed into the supervisor's objects. */
  private async gatherCounters(): Promise<void> {
    const replies = await Promise.all(this.slots.map((s) => this.request(s, (id) => ({ t: 'counters', id }), COUNTERS_TIMEOUT_MS)));
    const listeners = new Map<string, ListenerCounters>();
    const backends = new Map<string, Counters['backends'][string][string]>();
    for (const [i, r] of replies.entries()) {
      if (r === null || r.t !== 'counters') continue;
      // A worker that did not answer keeps its last count (a counter must not dip).
      this.slots[i]!.localErrors = r.counters.localErrors ?? {};
      for (const [name, c] of Object.entries(r.counters.listeners)) {
        let sum = listeners.get(name);
        if (sum === undefined) listeners.set(name, (sum = zeroListenerCounters()));
        addCounters(sum, c);
      }
      for (const [pool, bs] of Object.entries(r.counters.backends)) {
        for (const [key, c] of Object.entries(bs)) {
          const k = `${pool}\u0000${key}`;
          const sum = backends.get(k);
          if (sum === undefined) backends.set(k, { ...c });
          else addCounters(sum, c);
        }
      }
    }
    for (const l of this.runtime.listeners.values()) (l as WorkerListener).setCounters(listeners.get(l.name) ?? zeroListenerCounters());
    for (const p of this.runtime.pools.values()) {
      for (const b of p.backends) {
        // BackendCounters: active, total, bytesIn, bytesOut, connectFailures.
        const c = backends.get(`${p.name}\u0000${b.key}`);
        if (c !== undefined) Object.assign(b, c);
      }
    }
  }

  /** The workers' local errors: exited ones' plus each live one's last report. */
  private workerLocalErrors(): Map<string, number> {
    const sum = new Map(this.exitedLocalErrors);
    for (const s of this.slots) addCounts(sum, s.localErrors);
    return sum;
  }

  /** Every backend's health and admin drain, for workers that have just started. */
  private states(): ToWorker {
    const backends: Array<{ pool: string; key: string; healthy: boolean; drained: boolean }> = [];
    for (const p of this.runtime.pools.values()) {
      for (const b of p.backends) if (!b.removed) backends.push({ pool: p.name, key: b.key, healthy: b.healthy, drained: b.draining });
    }
    return { t: 'states', backends };
  }
}

function addCounts(sum: Map<string, number>, add: Record<string, number>): void {
  for (const [code, n] of Object.entries(add)) sum.set(code, (sum.get(code) ?? 0) + n);
}

/** `workers` from the config: "auto" is one per core. */
export function resolveWorkers(w: number | 'auto', cores: number): number {
  return w === 'auto' ? Math.max(1, cores) : w;
}
