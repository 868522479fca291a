import t from 'tap';
import type { Backend } from '../../../src/pool/backend.js';
import { LeastConnectionsSelector } from '../../../src/pool/selectors/least-connections.js';
import { mulberry32, randomInt } from '../../support/prng.js';
import { backend, backends, context } from '../../support/plain-backends.js';

const ctx = context();

/** What the pool does around a session: count, then tell the selector. */
function acquire(s: LeastConnectionsSelector, b: Backend): void {
  b.active++;
  s.onAcquire(b);
}
function release(s: LeastConnectionsSelector, b: Backend): void {
  b.active--;
  s.onRelease(b);
}

t.test('picks the lowest active count', async (t) => {
  const members = backends([1, 1, 1]);
  const [a, b, c] = members;
  a.active = 3;
  b.active = 1;
  c.active = 2;
  const s = new LeastConnectionsSelector();
  s.update(members);
  t.equal(s.pick(ctx, null), b);
  acquire(s, b);
  acquire(s, b);
  t.equal(s.pick(ctx, null), c, 'b at 3 now; c at 2 is lowest');
  release(s, a);
  release(s, a);
  release(s, a);
  t.equal(s.pick(ctx, null), a, 'a back to 0');
});

t.test('ties rotate, even when the caller never acquires', async (t) => {
  const members = backends([1, 1, 1]);
  const s = new LeastConnectionsSelector();
  s.update(members);
  const seq = Array.from({ length: 6 }, () => members.indexOf(s.pick(ctx, null)!));
  t.same(seq, [0, 1, 2, 0, 1, 2]);

  const [a, b, c, d] = backends([1, 1, 1, 1]);
  d.active = 1;
  const s2 = new LeastConnectionsSelector();
  s2.update([a, b, c, d]);
  t.same(
    Array.from({ length: 6 }, () => s2.pick(ctx, null)),
    [a, b, c, a, b, c],
    'only the tied lowest rotate',
  );
  s2.update([a, b, c, d]);
  t.equal(s2.pick(ctx, null), a, 'an update keeps the rotation: a was picked longest ago');
});

t.test('weights: (active + 1) / weight', async (t) => {
  const [heavy, light] = backends([2, 1]);
  const s = new LeastConnectionsSelector();
  s.update([heavy, light]);
  t.equal(s.pick(ctx, null), heavy, 'with no sessions the heavier backend goes first');
  for (let k = 0; k < 300; k++) acquire(s, s.pick(ctx, null)!);
  t.equal(heavy.active, 200, 'weight 2 holds twice the sessions');
  t.equal(light.active, 100);

  const three = backends([3, 1, 1]);
  const s3 = new LeastConnectionsSelector();
  s3.update(three);
  for (let k = 0; k < 500; k++) acquire(s3, s3.pick(ctx, null)!);
  t.same(
    three.map((b) => b.active),
    [300, 100, 100],
  );
});

t.test('avoid', async (t) => {
  const members = backends([1, 1, 1]);
  const [a, b, c] = members;
  c.active = 5;
  const s = new LeastConnectionsSelector();
  s.update(members);
  t.equal(s.pick(ctx, new Set([a])), b);
  t.equal(s.pick(ctx, new Set([b])), a, 'a retry also counts as a pick for the tie rule');
  t.equal(s.pick(ctx, new Set([a, b])), c);
  t.equal(s.pick(ctx, new Set([a, b, c])), undefined, 'all avoided');
  t.equal(s.pick(ctx, new Set()), b, 'empty avoid: b was picked longest ago');
  t.equal(s.pick(ctx, null), a);
});

t.test('empty set, weight 0, and backends outside the set', async (t) => {
  const s = new LeastConnectionsSelector();
  t.equal(s.pick(ctx, null), undefined, 'never updated');
  s.update([]);
  t.equal(s.pick(ctx, null), undefined, 'empty set');
  const [a, b, c] = backends([1, 0, 1]);
  s.update([a, b, c]);
  t.same([s.pick(ctx, null), s.pick(ctx, null), s.pick(ctx, null)], [a, c, a], 'weight 0 takes no sessions');

  const draining = backend(9);
  draining.active = 4;
  s.onAcquire(draining);
  release(s, draining);
  acquire(s, c);
  t.equal(s.pick(ctx, null), a, 'notifications for a non-member are ignored');
});

/**
 * The rule written as a brute-force O(n) scan, with its own last-pick bookkeeping: a backend
 * keeps its last-pick number while it stays in consecutive update() sets, and starts at 0 when
 * it (re)joins.
 */
class Reference {
  members: Backend[] = [];
  lastPick = new Map<Backend, number>();
  picks = 0;
  update(next: readonly Backend[]): void {
    const kept = new Map<Backend, number>();
    this.members = next.filter((b) => b.weight > 0);
    for (const b of this.members) kept.set(b, this.lastPick.get(b) ?? 0);
    this.lastPick = kept;
  }
  pick(avoid: ReadonlySet<Backend> | null): Backend | undefined {
    let best: Backend | undefined;
    for (const b of this.members) {
      if (avoid?.has(b)) continue;
      if (best === undefined) {
        best = b;
        continue;
      }
      const x = (b.active + 1) * best.weight;
      const y = (best.active + 1) * b.weight;
      if (x < y || (x === y && this.lastPick.get(b)! < this.lastPick.get(best)!)) best = b;
    }
    if (best !== undefined) this.lastPick.set(best, ++this.picks);
    return best;
  }
}

t.test('heap stays consistent: 20,000 random operations against a brute-force reference', async (t) => {
  const random = mulberry32(2024);
  const all = Array.from({ length: 12 }, (_, i) => backend(i + 1, 1 + randomInt(random, 4)));
  const s = new LeastConnectionsSelector();
  const ref = new Reference();
  let set = all.slice(0, 8);
  s.update(set);
  ref.update(set);
  const held: Backend[] = [];
  let mismatches = 0;
  let picks = 0;
  for (let op = 0; op < 20_000; op++) {
    const roll = random();
    if (roll < 0.5) {
      let avoid: Set<Backend> | null = null;
      if (random() < 0.2) avoid = new Set(set.filter(() => random() < 0.4));
      const got = s.pick(ctx, avoid);
      const want = ref.pick(avoid);
      picks++;
      if (got !== want) mismatches++;
      // Most picks become sessions; some are dropped (e.g. the client went away).
      if (got !== undefined && random() < 0.8) {
        acquire(s, got);
        held.push(got);
      }
    } else if (roll < 0.95) {
      if (held.length > 0) {
        const b = held.splice(randomInt(random, held.length), 1)[0];
        release(s, b);
      }
    } else {
      // Membership or weight change, as the pool's refresh() does; removed backends keep
      // their sessions (draining) and their releases must be ignored.
      set = all.filter(() => random() < 0.7);
      if (random() < 0.5) all[randomInt(random, all.length)].weight = randomInt(random, 4);
      s.update(set);
      ref.update(set);
    }
  }
  t.equal(mismatches, 0, `${picks} picks, every one equal to the reference`);
  t.ok(held.length > 0, 'sessions were held throughout');
});
