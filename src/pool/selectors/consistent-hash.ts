// Consistent hashing by client address over a Maglev table (NSDI'16 §3.4, see maglev-table.ts).
// Invariant: the table depends only on the set of (backend key, weight), so the same client
// maps to the same backend on every balancer with the same pool, and after a backend leaves
// and returns. pick O(1) (O(length of the IP text) to hash it); rebuild O(M log M), M = table size.
import type { HashKey } from '../../config/types.js';
import type { Backend } from '../backend.js';
import { hashString, mixInt } from './hash.js';
import { buildMaglevTable, DEFAULT_TABLE_SIZE, isPrime, type MaglevTable } from './maglev-table.js';
import type { PickContext, Selector } from './selector.js';
import { WeightedSet } from './weighted-set.js';

/** Seed of the client-key hash, distinct from the table's offset/skip seeds. */
const KEY_SEED = 0x6c62636b;

/** Consistent-hash selector (SPEC `consistent-hash`, `hash_key = source-ip | source-ip-port`). */
export class ConsistentHashSelector implements Selector {
  private readonly set = new WeightedSet();
  private table: MaglevTable | null = null;
  private builds = 0;
  private readonly hashKey: HashKey;
  private readonly tableSize: number;

  /**
   * `hashKey` chooses what a client is: its IP, or its IP and port. `tableSize` must be a prime
   * larger than the number of backends (throws RangeError when not prime); keep it ≥ 100× the
   * backends for an even spread (§5.3).
   */
  constructor(hashKey: HashKey, tableSize: number = DEFAULT_TABLE_SIZE) {
    if (!isPrime(tableSize)) throw new RangeError(`consistent-hash table size must be prime (got ${tableSize})`);
    this.hashKey = hashKey;
    this.tableSize = tableSize;
  }

  /** How many times update() rebuilt the table: once per change of set or weights. */
  get rebuilds(): number {
    return this.builds;
  }

  /**
   * Rebuilds the table when the set of backends or a weight changed; a call with the same
   * backends in the same order keeps it. O(M log M) on rebuild. Throws RangeError when there
   * are more eligible backends than table slots.
   */
  update(backends: readonly Backend[]): void {
    if (!this.set.assign(backends)) return;
    const members = this.set.backends;
    this.table =
      members.length === 0
        ? null
        : buildMaglevTable(
            members.map((b) => b.key),
            this.set.weights,
            this.tableSize,
          );
    this.builds++;
  }

  /**
   * The backend owning the client's slot. With `avoid` non-empty, walks forward from that slot
   * to the first backend not avoided: the same fallback for the same client every time. O(1);
   * the walk is O(n) to check that some backend is not avoided, plus a few slots on average.
   */
  pick(ctx: PickContext, avoid: ReadonlySet<Backend> | null): Backend | undefined {
    const table = this.table;
    if (table === null) return undefined;
    const members = this.set.backends;
    const ipHash = hashString(ctx.clientIp, KEY_SEED);
    const h = this.hashKey === 'source-ip' ? ipHash : mixInt(ipHash, ctx.clientPort);
    let slot = h % this.tableSize;
    if (avoid === null || avoid.size === 0) return members[table[slot]];
    if (this.set.allIn(avoid)) return undefined;
    // Every backend owns at least one slot (each takes a turn in round 0), so this ends.
    for (;;) {
      const b = members[table[slot]];
      if (!avoid.has(b)) return b;
      slot = slot + 1 === this.tableSize ? 0 : slot + 1;
    }
  }
}
