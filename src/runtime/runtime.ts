// The runtime owns every live object (pools, listeners, the global budget) and applies a
// validated Config to them: start(config), reload(file) → ReloadResult, stop(drainTimeoutMs).
// Reload order (so that nothing is refused and a failure changes nothing): open new binds
// first; only when all succeeded, reconfigure what stays, then drain what left.
// The runtime is core: it never imports admin/ or http/. Probers are wired to pools here
// (probers.ts); servers beside the listeners (the admin API) are attached from above as
// Companions by whoever starts lb (cli/run.ts), and follow the config's binds through them.
import type { Config, ConfigProblem, ListenerConfig, LogLevel } from '../config/types.js';
import type { Logger } from '../log/logger.js';
import type { EndReason } from '../log/end-reason.js';
import { readConfigFile, parseConfigText } from '../config/load.js';
import { formatProblem } from '../config/validate.js';
import { diffConfig } from '../config/diff.js';
import { Pool, type PoolLink } from '../pool/pool.js';
import { createListener, type Listener } from '../listeners/listener.js';
import { ConnectionBudget } from '../listeners/budget.js';
import { localErrors } from '../local-errors.js';
import { Probers } from './probers.js';

export interface RuntimeOptions {
  /** The file `reload()` reads by default (lb run -c FILE); null for built-in configs. */
  readonly configFile?: string | null;
  /** Reported by /status. */
  readonly version?: string;
  /** Builds listeners (default: the real ones); the supervisor's are views of its workers'. */
  readonly listenerFactory?: typeof createListener;
  /** Given to every pool: how pools reach other processes when `workers` > 1. */
  readonly poolLink?: PoolLink;
  /** Reload: a validated config and its text, before this runtime applies it; throw to reject. */
  readonly beforeApply?: (text: string, config: Config) => Promise<void>;
  /** Before /status and /metrics are built (the supervisor gathers its workers' counters). */
  readonly beforeReport?: () => Promise<void>;
  /** Local errors met by other processes (the supervisor's workers), added to this one's own. */
  readonly otherLocalErrors?: () => ReadonlyMap<string, number>;
}

/**
 * A server beside the listeners whose socket follows the config (the admin API). The runtime
 * does not know what it is: whoever starts lb attaches it (cli/run.ts), so the core never
 * imports it. Its new bind opens together with the listeners' new binds, so a bind failure
 * fails the whole start or reload and changes nothing.
 */
export interface Companion {
  /** Open what `next` needs beside what is open now; throw to refuse `next`. null: nothing to change. */
  prepare(next: Config): Promise<CompanionChange | null>;
  /** lb stops: called once every session has drained. */
  close(): Promise<void>;
}

/** What Companion.prepare() opened, waiting for the start or reload to succeed or fail. */
export interface CompanionChange {
  /** `next` now runs: switch to what prepare() opened and let the old go. Must not throw. */
  commit(): void;
  /** The start or reload failed: close what prepare() opened. */
  undo(): Promise<void>;
}

export type ReloadResult =
  | { readonly ok: true; readonly changed: boolean; readonly summary: string }
  | { readonly ok: false; readonly error: string; readonly problems: readonly ConfigProblem[] };

export class Runtime {
  config: Config;
  readonly pools = new Map<string, Pool>();
  readonly listeners = new Map<string, Listener>();
  readonly budget: ConnectionBudget;
  readonly log: Logger;
  /** Listeners removed by a reload, still draining their sessions. */
  private readonly retiring = new Set<Listener>();
  private readonly retiredPools = new Set<Pool>();
  private stopping: Promise<void> | null = null;
  private reloadChain: Promise<unknown> = Promise.resolve();
  reloads = { applied: 0, rejected: 0 };
  readonly configFile: string | null;
  readonly version: string;
  /** Servers attached beside the listeners (attach()). */
  private readonly companions: Companion[] = [];
  private readonly probers: Probers;
  /** Processes carrying the data path (the supervisor sets it when `workers` > 1). */
  workers = 1;
  private readonly options: RuntimeOptions;

  constructor(config: Config, log: Logger, options: RuntimeOptions = {}) {
    this.config = config;
    this.log = log;
    this.options = options;
    this.configFile = options.configFile ?? null;
    this.version = options.version ?? '0.0.0';
    this.budget = new ConnectionBudget(config.global.maxConnections);
    this.probers = new Probers(options.poolLink?.follower !== true);
  }

  /** Run `c` beside the listeners from start() on (call before start): it follows every reload. */
  attach(c: Companion): void {
    this.companions.push(c);
  }

  /** lb's own resource failures by errno (EMFILE, ...), this process's and its workers'. Read at scrape. */
  localErrorCounts(): Map<string, number> {
    const out = new Map(localErrors);
    for (const [code, n] of this.options.otherLocalErrors?.() ?? []) out.set(code, (out.get(code) ?? 0) + n);
    return out;
  }

  /** Counters are current once this resolves (see RuntimeOptions.beforeReport). */
  async beforeReport(): Promise<void> {
    this.syncCounters();
    await this.options.beforeReport?.();
  }

  private newPool(pc: Config['pools'][number], drainMs: number): Pool {
    return new Pool(pc, this.log, drainMs, this.options.poolLink ?? null);
  }

  /** Build pools and listeners and bind every listener; on a bind failure close what opened and throw. */
  async start(): Promise<void> {
    for (const pc of this.config.pools) this.pools.set(pc.name, this.newPool(pc, this.config.global.drainTimeoutMs));
    const changes: CompanionChange[] = [];
    try {
      for (const lc of this.config.listeners) {
        const listener = await this.openListener(lc, this.pools);
        this.listeners.set(lc.name, listener);
      }
      await this.prepareCompanions(this.config, changes);
    } catch (err) {
      await Promise.all([...this.listeners.values()].map((l) => l.drain(0, 'shutdown')));
      await Promise.all(changes.map((c) => c.undo()));
      this.listeners.clear();
      for (const p of this.pools.values()) p.stop();
      throw err;
    }
    for (const c of changes) c.commit();
    for (const p of this.pools.values()) this.probers.sync(p, this.config);
  }

  /** Every companion's part of `next`, collected in `changes` (also when one of them throws). */
  private async prepareCompanions(next: Config, changes: CompanionChange[]): Promise<void> {
    for (const c of this.companions) {
      const change = await c.prepare(next);
      if (change !== null) changes.push(change);
    }
  }

  /**
   * Bring byte counters up to date: sessions on the native relay credit what they moved to
   * their listener and backend at sweeps; beforeReport and the workers' reports ask first.
   */
  syncCounters(): void {
    for (const l of this.listeners.values()) l.syncCounters?.();
    for (const l of this.retiring) l.syncCounters?.();
  }

  /** Active sessions across all listeners, retiring ones included. */
  get activeSessions(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.activeSessions;
    for (const l of this.retiring) n += l.activeSessions;
    return n;
  }

  /** Read, validate and apply `file` (default: the file it was started from). Serialised; never throws. */
  reload(file: string | null = this.configFile): Promise<ReloadResult> {
    if (file === null) return Promise.resolve(this.rejected('no config file to reload (built-in config)', []));
    const next = this.reloadChain.then(() => this.reloadNow(file));
    this.reloadChain = next.catch(() => undefined);
    return next;
  }

  private async reloadNow(file: string): Promise<ReloadResult> {
    if (this.stopping !== null) return this.rejected('stopping', []);
    const read = readConfigFile(file);
    if (!read.ok) return this.rejected(`${file} is invalid`, read.problems);
    const loaded = parseConfigText(read.text, file);
    if (!loaded.ok) return this.rejected(`${file} is invalid`, loaded.problems);
    try {
      await this.options.beforeApply?.(read.text, loaded.config);
      return await this.apply(loaded.config);
    } catch (err) {
      return this.rejected(`apply failed: ${(err as Error).message}`, []);
    }
  }

  private rejected(error: string, problems: readonly ConfigProblem[]): ReloadResult {
    this.reloads.rejected++;
    for (const p of problems) this.log.error({ problem: formatProblem(p) }, 'config problem');
    this.log.error({ error, problems: problems.length }, 'reload rejected; the running config is unchanged');
    return { ok: false, error, problems };
  }

  /** Apply a validated config. Opens new binds first; on failure nothing changes. */
  async apply(next: Config): Promise<ReloadResult> {
    const d = diffConfig(this.config, next);
    const drainMs = next.global.drainTimeoutMs;
    if (next.global.workers !== this.config.global.workers) {
      this.log.warn({ running: this.config.global.workers, configured: next.global.workers }, 'workers changes at the next start; the running count stays');
    }
    // 1. Pools that are new: built now, started only once everything else succeeded.
    const newPools = new Map<string, Pool>();
    for (const pc of d.poolsAdded) newPools.set(pc.name, this.newPool(pc, drainMs));
    const poolsAfter = new Map<string, Pool>([...this.pools].filter(([n]) => !d.poolsRemoved.some((p) => p.name === n)));
    for (const [n, p] of newPools) poolsAfter.set(n, p);
    // 2. New sockets before anything closes. A bind still held by a listener that is going
    // away (renamed listener, swapped protocols) can only open after that one stops accepting.
    const leaving = [...d.listenersRemoved.map((l) => this.listeners.get(l.name)!), ...d.listenersRebound.map((c) => this.listeners.get(c.old.name)!)];
    const toOpen = [...d.listenersAdded, ...d.listenersRebound.map((c) => c.new)];
    const free = toOpen.filter((lc) => !leaving.some((l) => sameSocket(l.config, lc)));
    const takeovers = toOpen.filter((lc) => leaving.some((l) => sameSocket(l.config, lc)));
    const opened = new Map<string, Listener>();
    // Companions (the admin API) move like listeners: a new bind opens before the old one closes.
    const changes: CompanionChange[] = [];
    try {
      for (const lc of free) opened.set(lc.name, await this.openListener(lc, poolsAfter));
      await this.prepareCompanions(next, changes);
      for (const lc of takeovers) {
        for (const l of leaving) if (sameSocket(l.config, lc)) await l.stopAccepting();
        opened.set(lc.name, await this.openListener(lc, poolsAfter));
      }
    } catch (err) {
      await Promise.all([...opened.values()].map((l) => l.drain(0, 'shutdown')));
      await Promise.all(changes.map((c) => c.undo()));
      for (const p of newPools.values()) p.stop();
      throw err;
    }
    // 3. Commit: from here on nothing can fail.
    for (const c of d.poolsKept) {
      const p = this.pools.get(c.new.name)!;
      p.reconfigure(c.new, drainMs);
      this.probers.sync(p, next);
    }
    for (const [n, p] of newPools) {
      this.pools.set(n, p);
      this.probers.sync(p, next);
    }
    for (const c of d.listenersKept) this.listeners.get(c.new.name)!.reconfigure(c.new, poolsAfter.get(c.new.pool)!, poolsAfter);
    const deadline = performance.now() + drainMs;
    for (const l of leaving) {
      this.listeners.delete(l.name);
      this.retire(l, deadline);
    }
    for (const [n, l] of opened) this.listeners.set(n, l);
    for (const pc of d.poolsRemoved) {
      const p = this.pools.get(pc.name)!;
      this.pools.delete(pc.name);
      this.probers.stop(p);
      p.retire();
      this.retiredPools.add(p);
    }
    for (const c of changes) c.commit();
    this.budget.max = next.global.maxConnections;
    if (next.global.logLevel !== this.config.global.logLevel) this.setLogLevel(next.global.logLevel);
    this.config = next;
    this.reloads.applied++;
    const summary =
      `listeners +${d.listenersAdded.length} -${d.listenersRemoved.length} ~${d.listenersRebound.length} =${d.listenersKept.length}, ` +
      `pools +${d.poolsAdded.length} -${d.poolsRemoved.length} =${d.poolsKept.length}`;
    // A worker's apply is part of the supervisor's reload, which logs it once.
    if (this.options.poolLink?.follower === true) this.log.debug({ summary, changed: !d.unchanged }, 'reload applied');
    else this.log.info({ summary, changed: !d.unchanged }, 'reload applied');
    return { ok: true, changed: !d.unchanged, summary };
  }

  /** pino children keep the level they were made with: set it on each. */
  private setLogLevel(level: LogLevel): void {
    this.log.level = level;
    for (const l of this.listeners.values()) l.log.level = level;
    for (const p of this.pools.values()) p.log.level = level;
  }

  private async openListener(lc: ListenerConfig, pools: Map<string, Pool>): Promise<Listener> {
    const listener = await (this.options.listenerFactory ?? createListener)(lc, pools.get(lc.pool)!, pools, this.budget, this.log);
    await listener.listen();
    return listener;
  }

  private retire(l: Listener, deadline: number): void {
    this.retiring.add(l);
    void l.drain(deadline, 'drained').then(() => this.retiring.delete(l));
  }

  /**
   * Graceful stop: stop accepting everywhere, let sessions finish for up to `drainTimeoutMs`,
   * close the rest as `shutdown`, stop every pool timer. A second call with a shorter
   * timeout cuts the wait.
   */
  async stop(drainTimeoutMs: number = this.config.global.drainTimeoutMs, reason: EndReason = 'shutdown'): Promise<void> {
    const deadline = performance.now() + drainTimeoutMs;
    const all = [...this.listeners.values(), ...this.retiring];
    if (this.stopping === null) this.log.info({ drain_timeout_ms: drainTimeoutMs, active: this.activeSessions }, 'stopping');
    const done = Promise.all(all.map((l) => l.drain(deadline, reason))).then(async () => {
      this.probers.stopAll();
      for (const p of this.pools.values()) p.stop();
      for (const p of this.retiredPools) p.stop();
      await Promise.all(this.companions.map((c) => c.close()));
    });
    this.stopping ??= done;
    await done;
  }
}

/** Would `a` and `b` need the same socket? Same protocol family of socket and same bind text. */
function sameSocket(a: ListenerConfig, b: ListenerConfig): boolean {
  const kind = (p: string): string => (p === 'udp' ? 'udp' : 'tcp');
  return kind(a.protocol) === kind(b.protocol) && a.bind.port === b.bind.port && a.bind.port !== 0 && a.bind.host === b.bind.host;
}
