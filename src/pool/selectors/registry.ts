// The selector registry: SPEC's algorithm name → a new selector. Each pool owns its own
// selector (selectors keep per-pool state), so this builds a fresh one on every call.
import type { Algorithm, HashKey } from '../../config/types.js';
import { ConsistentHashSelector } from './consistent-hash.js';
import { LeastConnectionsSelector } from './least-connections.js';
import { PowerOfTwoSelector } from './power-of-two.js';
import { RoundRobinSelector } from './round-robin.js';
import type { Selector } from './selector.js';

export interface SelectorOptions {
  /** What consistent-hash keys on; ignored by the other algorithms. */
  readonly hashKey: HashKey;
  /**
   * Values in [0, 1): round-robin's start and power-of-two's draws. Defaults to Math.random;
   * tests inject a seeded one.
   */
  readonly random?: () => number;
}

/** A new selector for `algorithm`. Throws RangeError for a name outside the `Algorithm` union. */
export function createSelector(algorithm: Algorithm, opts: SelectorOptions): Selector {
  switch (algorithm) {
    case 'round-robin':
      return new RoundRobinSelector(opts.random);
    case 'least-connections':
      return new LeastConnectionsSelector();
    case 'consistent-hash':
      return new ConsistentHashSelector(opts.hashKey);
    case 'power-of-two':
      return new PowerOfTwoSelector(opts.random);
    default: {
      const unknown: never = algorithm;
      throw new RangeError(`unknown selector algorithm ${JSON.stringify(unknown)}`);
    }
  }
}
