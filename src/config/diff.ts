// (old, new) Config → what a reload must do, keyed by identity: listener name, pool name
// (backends are diffed inside the pool by address). Pure.
import type { Config, ListenerConfig, PoolConfig } from './types.js';

export interface Change<T> {
  readonly old: T;
  readonly new: T;
}

export interface ConfigDiff {
  readonly listenersAdded: readonly ListenerConfig[];
  readonly listenersRemoved: readonly ListenerConfig[];
  /** Same name, protocol and bind: the socket is kept and reconfigured in place. */
  readonly listenersKept: readonly Change<ListenerConfig>[];
  /** Same name, new bind or protocol: a new socket opens before the old one closes. */
  readonly listenersRebound: readonly Change<ListenerConfig>[];
  readonly poolsAdded: readonly PoolConfig[];
  readonly poolsRemoved: readonly PoolConfig[];
  readonly poolsKept: readonly Change<PoolConfig>[];
  /** True when nothing at all differs (a reload of the same file). */
  readonly unchanged: boolean;
}

export function diffConfig(oldC: Config, newC: Config): ConfigDiff {
  const oldL = new Map(oldC.listeners.map((l) => [l.name, l]));
  const newL = new Map(newC.listeners.map((l) => [l.name, l]));
  const oldP = new Map(oldC.pools.map((p) => [p.name, p]));
  const newP = new Map(newC.pools.map((p) => [p.name, p]));
  const listenersAdded: ListenerConfig[] = [];
  const listenersKept: Change<ListenerConfig>[] = [];
  const listenersRebound: Change<ListenerConfig>[] = [];
  for (const l of newC.listeners) {
    const o = oldL.get(l.name);
    if (o === undefined) listenersAdded.push(l);
    else if (o.protocol === l.protocol && o.bind.text === l.bind.text) listenersKept.push({ old: o, new: l });
    else listenersRebound.push({ old: o, new: l });
  }
  const listenersRemoved = oldC.listeners.filter((l) => !newL.has(l.name));
  const poolsAdded = newC.pools.filter((p) => !oldP.has(p.name));
  const poolsRemoved = oldC.pools.filter((p) => !newP.has(p.name));
  const poolsKept = newC.pools.filter((p) => oldP.has(p.name)).map((p) => ({ old: oldP.get(p.name)!, new: p }));
  const unchanged =
    listenersAdded.length === 0 &&
    listenersRemoved.length === 0 &&
    listenersRebound.length === 0 &&
    poolsAdded.length === 0 &&
    poolsRemoved.length === 0 &&
    sameJson(oldC, newC);
  return { listenersAdded, listenersRemoved, listenersKept, listenersRebound, poolsAdded, poolsRemoved, poolsKept, unchanged };
}

/** Deep equality of two validated configs (Buffers serialise as {type, data}). */
function sameJson(a: Config, b: Config): boolean {
  return JSON.stringify({ ...a, source: '' }) === JSON.stringify({ ...b, source: '' });
}
