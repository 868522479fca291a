import t from 'tap';
import type { Backend } from '../../../src/pool/backend.js';
import { ConsistentHashSelector } from '../../../src/pool/selectors/consistent-hash.js';
import { fmix32, hashString, mixInt } from '../../../src/pool/selectors/hash.js';
import { buildMaglevTable, DEFAULT_TABLE_SIZE, isPrime } from '../../../src/pool/selectors/maglev-table.js';
import { mulberry32, randomInt } from '../../support/prng.js';
import { backend, backends, context } from '../../support/plain-backends.js';

/** MurmurHash3_x86_32 over bytes, written the textbook way, as the reference for hashString. */
function murmur3Bytes(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const blocks = bytes.length & ~3;
  const scramble = (k: number): number => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    return Math.imul(k, 0x1b873593);
  };
  for (let i = 0; i < blocks; i += 4) {
    h ^= scramble(bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  switch (bytes.length & 3) {
    case 3:
      k ^= bytes[blocks + 2] << 16;
    // falls through
    case 2:
      k ^= bytes[blocks + 1] << 8;
    // falls through
    case 1:
      k ^= bytes[blocks];
      h ^= scramble(k);
  }
  return fmix32(h ^ bytes.length);
}

function randomIpv4(random: () => number): string {
  return `${randomInt(random, 256)}.${randomInt(random, 256)}.${randomInt(random, 256)}.${randomInt(random, 256)}`;
}

const KEYS = (() => {
  const random = mulberry32(42);
  return Array.from({ length: 100_000 }, () => randomIpv4(random));
})();

function assign(s: ConsistentHashSelector, keys: readonly string[], port = 40000): (Backend | undefined)[] {
  const ctx = context('', port);
  return keys.map((ip) => {
    ctx.clientIp = ip;
    return s.pick(ctx, null);
  });
}

function shares(owners: readonly (Backend | undefined)[], members: readonly Backend[]): number[] {
  const counts = members.map(() => 0);
  for (const b of owners) counts[members.indexOf(b!)]++;
  return counts.map((c) => c / owners.length);
}

t.test('hash: MurmurHash3_x86_32 of the UTF-16LE bytes', async (t) => {
  const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
  // Published vectors (SMHasher's reference implementation), checking the byte reference first.
  const vectors: [Uint8Array, number, number][] = [
    [ascii(''), 0, 0],
    [ascii(''), 1, 0x514e28b7],
    [ascii(''), 0xffffffff, 0x81f16f39],
    [new Uint8Array(4), 0, 0x2362f9de],
    [ascii('aaaa'), 0x9747b28c, 0x5a97808a],
    [ascii('Hello, world!'), 0x9747b28c, 0x24884cba],
    [ascii('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
  ];
  for (const [bytes, seed, want] of vectors) t.equal(murmur3Bytes(bytes, seed), want, `reference, ${bytes.length} bytes`);
  t.equal(hashString('', 1), 0x514e28b7, 'empty string');
  for (const s of ['1', '10.0.0.1', '10.0.0.12', '[2001:db8::1]:5432', 'ü', '☃x', 'x☃', '\u{1f600}']) {
    const bytes = new Uint8Array(Buffer.from(s, 'utf16le'));
    t.equal(hashString(s, 0x9747b28c), murmur3Bytes(bytes, 0x9747b28c), `hashString(${JSON.stringify(s)})`);
  }
  t.not(hashString('10.0.0.1', 1), hashString('10.0.0.1', 2), 'seeds give different hashes');
  const h = hashString('192.0.2.1', 7);
  const ports = new Set<number>();
  for (let port = 0; port < 65536; port++) ports.add(mixInt(h, port));
  t.equal(ports.size, 65536, 'mixInt gives every port its own hash');
});

t.test('maglev table', async (t) => {
  t.equal(DEFAULT_TABLE_SIZE, 65537);
  t.same([2, 3, 13, 65537, 1, 9, 65536, 2.5].map(isPrime), [true, true, true, true, false, false, false, false]);
  t.throws(() => buildMaglevTable(['a'], [1], 65536), RangeError, 'size not prime');
  t.throws(() => buildMaglevTable([], []), RangeError, 'no backends');
  t.throws(() => buildMaglevTable(['a', 'b', 'c', 'd'], [1, 1, 1, 1], 3), RangeError, 'more backends than slots');
  t.throws(() => buildMaglevTable(['a'], [0]), RangeError, 'weight 0');
  t.throws(() => buildMaglevTable(['a'], [1, 2]), RangeError, 'lengths differ');

  const one = buildMaglevTable(['10.0.0.1:5432'], [1]);
  t.equal(one.length, 65537);
  t.ok(one.every((i) => i === 0), 'one backend owns every slot');

  const names = backends([1, 1, 1, 1, 1]).map((b) => b.key);
  const counts = [0, 0, 0, 0, 0];
  for (const i of buildMaglevTable(names, [1, 1, 1, 1, 1])) counts[i]++;
  t.same(counts.slice().sort(), [13107, 13107, 13107, 13108, 13108], 'equal weights: entries differ by at most 1');

  const weighted = [0, 0];
  for (const i of buildMaglevTable(['a', 'b'], [3, 1])) weighted[i]++;
  t.same(weighted, [49153, 16384], 'weights 3:1 give 3:1 entries');

  const small = buildMaglevTable(['a', 'b', 'c'], [1, 1, 1], 13);
  t.equal(small.length, 13);
  t.same(new Set(small), new Set([0, 1, 2]), 'a small prime table is full');

  const table = buildMaglevTable(names, [1, 2, 1, 3, 1]);
  const order = [3, 0, 4, 1, 2];
  const shuffled = buildMaglevTable(
    order.map((i) => names[i]),
    order.map((i) => [1, 2, 1, 3, 1][i]),
  );
  let differ = 0;
  for (let slot = 0; slot < table.length; slot++) if (names[table[slot]] !== names[order[shuffled[slot]]]) differ++;
  t.equal(differ, 0, 'the table depends on the set, not on its order');
});

t.test('remap on removal ≈ 1/N, and the original mapping comes back on re-add', async (t) => {
  const members = backends([1, 1, 1, 1, 1]);
  const n = members.length;
  const s = new ConsistentHashSelector('source-ip');
  s.update(members);
  const before = assign(s, KEYS);
  for (const [i, share] of shares(before, members).entries()) {
    t.ok(Math.abs(share - 1 / n) < 0.05 / n, `equal weights: backend ${i + 1} has ${(share * 100).toFixed(2)}% of keys`);
  }

  const removed = members[2];
  s.update(members.filter((b) => b !== removed));
  const after = assign(s, KEYS);
  let changed = 0;
  let onSurvivors = 0;
  let movedFromSurvivors = 0;
  for (let k = 0; k < KEYS.length; k++) {
    if (after[k] === removed) t.fail(`key ${KEYS[k]} still maps to the removed backend`);
    if (after[k] !== before[k]) changed++;
    if (before[k] !== removed) {
      onSurvivors++;
      if (after[k] !== before[k]) movedFromSurvivors++;
    }
  }
  const changedFraction = changed / KEYS.length;
  const survivorFraction = movedFromSurvivors / onSurvivors;
  t.comment(
    `Maglev N=${n}, M=65537, ${KEYS.length} keys: removing one backend remapped ${(changedFraction * 100).toFixed(2)}% ` +
      `of keys (optimal ${(100 / n).toFixed(2)}%); ${(survivorFraction * 100).toFixed(3)}% of keys on surviving backends moved`,
  );
  t.ok(changedFraction >= (1 / n) * 0.95, 'at least the removed backend\'s keys moved');
  t.ok(changedFraction <= (1 / n) * 1.15, `remap ${changedFraction} ≤ 1.15/N`);
  t.ok(survivorFraction < 0.01, `keys on surviving backends that moved: ${survivorFraction} < 1%`);

  s.update(members);
  const restored = assign(s, KEYS);
  let differ = 0;
  for (let k = 0; k < KEYS.length; k++) if (restored[k] !== before[k]) differ++;
  t.equal(differ, 0, 're-adding the backend restores every key\'s backend');
  t.comment(`re-add: ${differ} of ${KEYS.length} keys differ from the original mapping`);
});

t.test('weights and order', async (t) => {
  const [heavy, light] = backends([3, 1]);
  const s = new ConsistentHashSelector('source-ip');
  s.update([heavy, light]);
  const [heavyShare] = shares(assign(s, KEYS), [heavy, light]);
  t.ok(Math.abs(heavyShare - 0.75) <= 0.03, `weight 3:1 → ${(heavyShare * 100).toFixed(2)}% on the heavier`);

  const members = backends([1, 1, 1, 1, 1]);
  const forward = new ConsistentHashSelector('source-ip');
  forward.update(members);
  const reversed = new ConsistentHashSelector('source-ip');
  reversed.update(members.slice().reverse());
  const keys = KEYS.slice(0, 10_000);
  const a = assign(forward, keys);
  const b = assign(reversed, keys);
  t.equal(
    a.filter((owner, k) => owner !== b[k]).length,
    0,
    'pool order does not matter',
  );
});

t.test('hash keys', async (t) => {
  const members = backends([1, 1, 1, 1, 1]);
  const byIp = new ConsistentHashSelector('source-ip');
  byIp.update(members);
  const byIpPort = new ConsistentHashSelector('source-ip-port');
  byIpPort.update(members);
  const ctx = context('198.51.100.7', 0);
  const ipOwners = new Set<Backend | undefined>();
  const portOwners = new Set<Backend | undefined>();
  for (let port = 1024; port < 1124; port++) {
    ctx.clientPort = port;
    ipOwners.add(byIp.pick(ctx, null));
    portOwners.add(byIpPort.pick(ctx, null));
  }
  t.equal(ipOwners.size, 1, 'source-ip: every port of one client goes to one backend');
  t.equal(portOwners.size, 5, 'source-ip-port: 100 ports of one client spread over all 5');

  ctx.clientPort = 5000;
  const first = byIpPort.pick(ctx, null);
  t.equal(byIpPort.pick(ctx, null), first, 'source-ip-port: the same ip and port stick');
  const shares5 = shares(assign(byIpPort, KEYS.slice(0, 50_000), 12345), members);
  t.ok(
    shares5.every((x) => Math.abs(x - 0.2) < 0.01),
    `source-ip-port spreads evenly: ${shares5.map((x) => x.toFixed(3)).join(' ')}`,
  );
});

t.test('avoid walks forward to the same fallback every time', async (t) => {
  const members = backends([1, 1, 1, 1, 1]);
  const s = new ConsistentHashSelector('source-ip');
  s.update(members);
  const ctx = context('203.0.113.9');
  const primary = s.pick(ctx, null)!;
  const fallback = s.pick(ctx, new Set([primary]));
  t.ok(fallback !== undefined && fallback !== primary, 'a different backend');
  t.equal(s.pick(ctx, new Set([primary])), fallback, 'deterministic');
  const second = s.pick(ctx, new Set([primary, fallback!]));
  t.ok(second !== primary && second !== fallback && second !== undefined, 'a third backend when two are avoided');
  t.equal(s.pick(ctx, new Set(members)), undefined, 'all avoided');
  t.equal(s.pick(ctx, new Set([backend(99)])), primary, 'avoiding a non-member changes nothing');
  t.equal(s.pick(ctx, new Set()), primary);

  const other = new ConsistentHashSelector('source-ip');
  other.update(members.slice().reverse());
  t.equal(other.pick(ctx, new Set([primary])), fallback, 'the same fallback on another balancer');

  // Over many clients, the fallback for a removed-looking backend spreads over the others.
  const spread = new Set<Backend | undefined>();
  for (const ip of KEYS.slice(0, 2000)) {
    ctx.clientIp = ip;
    if (s.pick(ctx, null) === members[0]) spread.add(s.pick(ctx, new Set([members[0]])));
  }
  t.equal(spread.size, 4, 'fallbacks from one backend spread over all four others');
});

t.test('update() rebuilds only on change; empty and single sets', async (t) => {
  const ctx = context();
  t.throws(() => new ConsistentHashSelector('source-ip', 1000), RangeError, 'table size must be prime');
  const s = new ConsistentHashSelector('source-ip');
  t.equal(s.pick(ctx, null), undefined, 'never updated');
  s.update([]);
  t.equal(s.pick(ctx, null), undefined, 'empty set');

  const members = backends([1, 1, 1]);
  s.update(members);
  t.equal(s.rebuilds, 1);
  s.update(members.slice());
  t.equal(s.rebuilds, 1, 'same backends and weights: no rebuild');
  members[1].weight = 2;
  s.update(members);
  t.equal(s.rebuilds, 2, 'a weight changed in place: rebuilt');
  s.update(members.slice(0, 2));
  t.equal(s.rebuilds, 3, 'a backend left: rebuilt');
  members[0].weight = 0;
  s.update(members.slice(0, 2));
  t.equal(s.rebuilds, 4);
  const only = assign(s, KEYS.slice(0, 1000));
  t.ok(
    only.every((b) => b === members[1]),
    'weight 0 takes no sessions; one backend takes every key',
  );
  t.equal(s.pick(ctx, new Set([members[1]])), undefined, 'the only backend avoided');
  s.update([]);
  t.equal(s.pick(ctx, null), undefined, 'emptied');
});
