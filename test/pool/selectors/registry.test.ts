import t from 'tap';
import type { Algorithm } from '../../../src/config/types.js';
import { ConsistentHashSelector } from '../../../src/pool/selectors/consistent-hash.js';
import { LeastConnectionsSelector } from '../../../src/pool/selectors/least-connections.js';
import { PowerOfTwoSelector } from '../../../src/pool/selectors/power-of-two.js';
import { createSelector } from '../../../src/pool/selectors/registry.js';
import { RoundRobinSelector } from '../../../src/pool/selectors/round-robin.js';
import { backends, context } from '../../support/plain-backends.js';

t.test('every SPEC algorithm name makes its selector', async (t) => {
  const cases: [Algorithm, new (...args: never[]) => unknown][] = [
    ['round-robin', RoundRobinSelector],
    ['least-connections', LeastConnectionsSelector],
    ['consistent-hash', ConsistentHashSelector],
    ['power-of-two', PowerOfTwoSelector],
  ];
  for (const [algorithm, type] of cases) {
    const s = createSelector(algorithm, { hashKey: 'source-ip' });
    t.ok(s instanceof type, algorithm);
    t.not(createSelector(algorithm, { hashKey: 'source-ip' }), s, `${algorithm}: a fresh selector per call`);
    const members = backends([1, 1]);
    s.update(members);
    t.ok(members.includes(s.pick(context(), null)!), `${algorithm}: picks a member`);
  }
  t.throws(() => createSelector('leastconn' as Algorithm, { hashKey: 'source-ip' }), RangeError);
});

t.test('options reach the selector', async (t) => {
  const members = backends([1, 1, 1, 1]);
  const rr = createSelector('round-robin', { hashKey: 'source-ip', random: () => 0.5 });
  rr.update(members);
  t.equal(rr.pick(context(), null), members[2], 'random sets the round-robin start');

  const ctx = context('198.51.100.7', 1);
  const owners = new Set();
  const byPort = createSelector('consistent-hash', { hashKey: 'source-ip-port' });
  byPort.update(members);
  for (ctx.clientPort = 1; ctx.clientPort < 50; ctx.clientPort++) owners.add(byPort.pick(ctx, null));
  t.equal(owners.size, 4, 'hashKey source-ip-port keys on the port too');
});
