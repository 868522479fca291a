import t from 'tap';
import type { Backend } from '../../../src/pool/backend.js';
import { PowerOfTwoSelector } from '../../../src/pool/selectors/power-of-two.js';
import { mulberry32, randomInt } from '../../support/prng.js';
import { backend, backends, context } from '../../support/plain-backends.js';

const ctx = context();

/** What the pool does when a session starts; power-of-two needs no notification, it reads `active`. */
function acquire(_s: PowerOfTwoSelector, b: Backend): void {
  b.active++;
}

function pickCounts(s: PowerOfTwoSelector, members: readonly Backend[], picks: number, avoid: ReadonlySet<Backend> | null = null): number[] {
  const counts = members.map(() => 0);
  for (let k = 0; k < picks; k++) counts[members.indexOf(s.pick(ctx, avoid)!)]++;
  return counts;
}

t.test('a heavily loaded backend is never the lighter of two', async (t) => {
  const members = backends([1, 1, 1, 1, 1]);
  members[2].active = 100;
  const s = new PowerOfTwoSelector(mulberry32(1));
  s.update(members);
  const counts = pickCounts(s, members, 10_000);
  t.equal(counts[2], 0, 'the two draws are distinct, so the loaded backend always loses');
  for (const i of [0, 1, 3, 4]) t.ok(Math.abs(counts[i] - 2500) < 250, `backend ${i + 1}: ${counts[i]} of 10000`);

  const pair = backends([1, 1000]);
  pair[1].active = 1_000_000;
  const ws = new PowerOfTwoSelector(mulberry32(2));
  ws.update(pair);
  t.same(pickCounts(ws, pair, 1000), [1000, 0], 'weighted draws are distinct too');
});

t.test('equal load spreads evenly', async (t) => {
  const members = backends([1, 1, 1, 1, 1]);
  const s = new PowerOfTwoSelector(mulberry32(3));
  s.update(members);
  const counts = pickCounts(s, members, 50_000);
  t.ok(
    counts.every((c) => Math.abs(c - 10_000) < 500),
    `no sessions held: ${counts.join(' ')} (±5% of 10000)`,
  );

  // Hold 200 sessions, ending a random one for each new one; track the widest spread of
  // active counts. One random choice is the baseline the second choice should beat.
  const widestSpread = (choose: () => Backend): number => {
    for (const m of members) m.active = 0;
    const random = mulberry32(4);
    const held: Backend[] = [];
    let widest = 0;
    for (let k = 0; k < 20_000; k++) {
      const b = choose();
      acquire(s, b);
      held.push(b);
      if (held.length > 200) held.splice(randomInt(random, held.length), 1)[0].active--;
      const actives = members.map((m) => m.active);
      widest = Math.max(widest, Math.max(...actives) - Math.min(...actives));
    }
    return widest;
  };
  const oneChoice = mulberry32(5);
  const baseline = widestSpread(() => members[randomInt(oneChoice, members.length)]);
  const twoChoices = widestSpread(() => s.pick(ctx, null)!);
  t.comment(`200 sessions over 5 backends: widest spread ${twoChoices} with two choices, ${baseline} with one`);
  t.ok(twoChoices <= 15 && twoChoices * 2 <= baseline, `two choices (${twoChoices}) at most half of one (${baseline})`);
});

t.test('weights', async (t) => {
  const [heavy, light] = backends([3, 1]);
  const s = new PowerOfTwoSelector(mulberry32(5));
  s.update([heavy, light]);
  for (let k = 0; k < 4000; k++) acquire(s, s.pick(ctx, null)!);
  t.equal(heavy.active, 3000, 'sessions held split 3:1');
  t.equal(light.active, 1000);

  const members = backends([4, 2, 1, 1]);
  const ws = new PowerOfTwoSelector(mulberry32(6));
  ws.update(members);
  for (let k = 0; k < 8000; k++) acquire(ws, ws.pick(ctx, null)!);
  t.ok(
    members.every((b) => Math.abs(b.active - b.weight * 1000) <= 10),
    `sessions held follow weights 4:2:1:1: ${members.map((b) => b.active).join(' ')}`,
  );
});

t.test('draws follow the weights exactly: measured against the enumerated distribution', async (t) => {
  // No sessions: (0 + 1) / weight makes the higher index the lighter of any pair, so the result
  // is max(first, second), with P(first = i, second = j) = w_i / W · w_j / (W − w_i).
  const weights = [1, 2, 3, 4];
  const members = backends(weights);
  const total = weights.reduce((a, b) => a + b);
  const expected = weights.map(() => 0);
  for (let i = 0; i < weights.length; i++) {
    for (let j = 0; j < weights.length; j++) {
      if (i !== j) expected[Math.max(i, j)] += (weights[i] / total) * (weights[j] / (total - weights[i]));
    }
  }
  const s = new PowerOfTwoSelector(mulberry32(10));
  s.update(members);
  const picks = 100_000;
  const measured = pickCounts(s, members, picks).map((c) => c / picks);
  t.ok(
    measured.every((m, i) => Math.abs(m - expected[i]) < 0.005),
    `measured ${measured.map((x) => x.toFixed(3)).join(' ')}, expected ${expected.map((x) => x.toFixed(3)).join(' ')}`,
  );
});

t.test('avoid', async (t) => {
  const members = backends([1, 1, 1]);
  const [a, b, c] = members;
  const s = new PowerOfTwoSelector(mulberry32(7));
  s.update(members);
  const counts = pickCounts(s, members, 3000, new Set([a]));
  t.equal(counts[0], 0, 'never the avoided backend');
  t.ok(counts[1] > 0 && counts[2] > 0, `both others chosen: ${counts.join(' ')}`);
  c.active = 10;
  t.same(pickCounts(s, members, 100, new Set([a])), [0, 100, 0], 'the lighter of the two left');
  t.same(pickCounts(s, members, 100, new Set([a, b])), [0, 0, 100], 'one left: that one');
  t.equal(s.pick(ctx, new Set(members)), undefined, 'all avoided');
  c.active = 0;
  const outside = pickCounts(s, members, 3000, new Set([backend(99)]));
  t.ok(outside.every((n) => n > 0), `avoiding a non-member still spreads: ${outside.join(' ')}`);
});

t.test('single, empty, weight 0, and a fixed seed', async (t) => {
  const s = new PowerOfTwoSelector(mulberry32(8));
  t.equal(s.pick(ctx, null), undefined, 'never updated');
  s.update([]);
  t.equal(s.pick(ctx, null), undefined, 'empty set');
  const [a, b] = backends([1, 0]);
  a.active = 50;
  s.update([a, b]);
  t.equal(s.pick(ctx, null), a, 'one eligible backend (b has weight 0): picked whatever its load');
  t.equal(s.pick(ctx, new Set([a])), undefined);

  const members = backends([1, 1, 1, 1]);
  const run = (): number[] => {
    const r = new PowerOfTwoSelector(mulberry32(9));
    r.update(members);
    return Array.from({ length: 20 }, () => members.indexOf(r.pick(ctx, null)!));
  };
  t.same(run(), run(), 'the same seed gives the same picks');
});
