import t from 'tap';
import type { Backend } from '../../../src/pool/backend.js';
import { RoundRobinSelector } from '../../../src/pool/selectors/round-robin.js';
import { mulberry32, randomInt } from '../../support/prng.js';
import { backend, backends, context } from '../../support/plain-backends.js';

const ctx = context();
const atStart = (): number => 0;

/** NGINX's loop, written out independently: the reference sequence. */
function nginxSequence(weights: readonly number[], picks: number): number[] {
  const current = weights.map(() => 0);
  const out: number[] = [];
  for (let k = 0; k < picks; k++) {
    let total = 0;
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i];
      total += weights[i];
      if (best < 0 || current[i] > current[best]) best = i;
    }
    current[best] -= total;
    out.push(best);
  }
  return out;
}

function picks(s: RoundRobinSelector, members: readonly Backend[], n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(members.indexOf(s.pick(ctx, null)!));
  return out;
}

function letters(s: RoundRobinSelector, members: readonly Backend[], n: number): string {
  return picks(s, members, n)
    .map((i) => 'abcdefgh'[i])
    .join(' ');
}

t.test('weights {5,1,1} give NGINX\'s documented smooth sequence', async (t) => {
  const members = backends([5, 1, 1]);
  const s = new RoundRobinSelector(atStart);
  s.update(members);
  t.equal(letters(s, members, 14), 'a a b a c a a a a b a c a a');
});

t.test('sequence equals NGINX\'s loop', async (t) => {
  const cases: { name: string; weights: number[]; picks: number }[] = [
    { name: 'equal weights', weights: [1, 1, 1, 1], picks: 12 },
    { name: 'gcd reduced', weights: [100, 200, 300], picks: 30 },
    { name: 'one backend', weights: [7], picks: 5 },
    { name: 'live mode: period 70004 > 2^16', weights: [70000, 1, 3], picks: 75_000 },
    { name: 'live mode: fractional weights', weights: [1.5, 1, 0.25], picks: 100 },
    { name: 'equal weights after gcd', weights: [5, 5, 5], picks: 9 },
    {
      name: 'live mode: 2000 backends, n·W over the build budget',
      weights: Array.from({ length: 2000 }, (_, i) => 1 + (i % 7)),
      picks: 5000,
    },
  ];
  const random = mulberry32(7);
  for (let k = 0; k < 30; k++) {
    const n = 1 + randomInt(random, 8);
    const weights = Array.from({ length: n }, () => 1 + randomInt(random, 10));
    cases.push({ name: `random ${weights.join(',')}`, weights, picks: 3 * weights.reduce((a, b) => a + b) });
  }
  for (const c of cases) {
    const members = backends(c.weights);
    const s = new RoundRobinSelector(atStart);
    s.update(members);
    t.same(picks(s, members, c.picks), nginxSequence(c.weights, c.picks), c.name);
  }
});

t.test('equal weights rotate evenly', async (t) => {
  const members = backends([1, 1, 1, 1]);
  const s = new RoundRobinSelector(atStart);
  s.update(members);
  t.same(picks(s, members, 8), [0, 1, 2, 3, 0, 1, 2, 3]);
  const counts = [0, 0, 0, 0];
  for (const i of picks(s, members, 4000)) counts[i]++;
  t.same(counts, [1000, 1000, 1000, 1000]);
});

t.test('a seeded start desynchronises a fleet, then follows the sequence', async (t) => {
  const members = backends([1, 1, 1, 1]);
  const half = new RoundRobinSelector(() => 0.5);
  half.update(members);
  t.same(picks(half, members, 5), [2, 3, 0, 1, 2]);

  const weighted = backends([5, 1, 1]);
  const reference = nginxSequence([5, 1, 1], 14);
  const starts = new Set<number>();
  const random = mulberry32(11);
  for (let k = 0; k < 20; k++) {
    const s = new RoundRobinSelector(random);
    s.update(weighted);
    const seq = picks(s, weighted, 7);
    const start = [0, 1, 2, 3, 4, 5, 6].find((o) => reference.slice(o, o + 7).join() === seq.join());
    t.not(start, undefined, `selector ${k} runs a rotation of the NGINX period`);
    starts.add(start!);
  }
  t.ok(starts.size >= 4, `20 selectors started at ${starts.size} different points of the period`);
});

t.test('avoid', async (t) => {
  const members = backends([5, 1, 1]);
  const [a, b, c] = members;
  const s = new RoundRobinSelector(atStart);
  s.update(members);
  t.equal(s.pick(ctx, new Set([a])), b, 'first upcoming backend not avoided');
  t.equal(s.pick(ctx, new Set([a, b])), c);
  t.equal(s.pick(ctx, new Set([a, b, c])), undefined, 'all avoided');
  t.equal(s.pick(ctx, new Set([backend(99)])), a, 'avoiding a non-member changes nothing');
  t.equal(s.pick(ctx, new Set()), a, 'an empty set is no avoid');
  t.equal(letters(s, members, 7), 'a b a c a a a', 'retries consumed no turn');

  const live = backends([70000, 1, 3]);
  const ls = new RoundRobinSelector(atStart);
  ls.update(live);
  const reference = nginxSequence([70000, 1, 3], 30_000);
  const firstNotA = reference.findIndex((i) => i !== 0);
  t.equal(ls.pick(ctx, new Set([live[0]])), live[reference[firstNotA]], 'live mode peeks ahead');
  t.equal(ls.pick(ctx, null), live[reference[0]], 'live mode retry consumed no turn');
  t.equal(ls.pick(ctx, new Set(live)), undefined);
});

t.test('empty, zero weight, and update()', async (t) => {
  const s = new RoundRobinSelector(atStart);
  t.equal(s.pick(ctx, null), undefined, 'never updated');
  s.update([]);
  t.equal(s.pick(ctx, null), undefined, 'empty set');

  const [a, b, c, d] = backends([1, 1, 1, 1]);
  c.weight = 0;
  s.update([a, b, c, d]);
  t.same(picks(s, [a, b, c, d], 6), [0, 1, 3, 0, 1, 3], 'c (weight 0) takes no sessions');
  s.update([c]);
  t.equal(s.pick(ctx, null), undefined, 'only weight 0 left');

  s.update([a, b, c, d]);
  t.equal(s.pick(ctx, null), a);
  s.update([a, b, c, d]);
  t.equal(s.pick(ctx, null), b, 'an unchanged set keeps the rotation');

  s.update([a, c, d]);
  t.same(picks(s, [a, c, d], 4), [0, 2, 0, 2], 'a changed set restarts over the new members (c still weight 0)');
  a.weight = 3;
  s.update([a, c, d]);
  t.same(picks(s, [a, c, d], 4), [0, 0, 2, 0], 'a weight changed in place is picked up');
  s.update([]);
  t.equal(s.pick(ctx, null), undefined, 'emptied');
});
