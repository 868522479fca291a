// Config keys of the http listener: rate_limit inside a route and header_timeout, validated
// like every key (exact problem lines with positions) and typed in the frozen config.
import t from 'tap';
import { parseConfigText } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/validate.js';

const HEAD = ['[listeners.web]', 'protocol = "http"', 'bind = "127.0.0.1:8080"', 'pool = "p"', '', '[pools.p]', 'backends = [{ address = "127.0.0.1:8081" }]', ''];

function lines(extra: string[]): string[] {
  const r = parseConfigText([...HEAD, ...extra].join('\n'), 'x.toml');
  return r.ok ? r.warnings.map(formatProblem) : r.problems.map(formatProblem);
}

t.test('rate_limit problems, with positions', async (t) => {
  const cases: { name: string; extra: string[]; want: string[] }[] = [
    {
      name: 'missing requests, bad per, burst 0, unknown key',
      extra: ['[[listeners.web.routes]]', 'pool = "p"', 'rate_limit = { per = "1", burst = 0, rate = 5 }'],
      want: [
        'x.toml:11:1: listeners.web.routes[0].rate_limit.requests: required key is missing',
        'x.toml:11:16: listeners.web.routes[0].rate_limit.per: must be a duration such as "250ms", "2s", "1.5s", "5m" or "1h" (units ms, s, m, h) (got "1")',
        'x.toml:11:27: listeners.web.routes[0].rate_limit.burst: must be an integer from 1 to 1000000000 (got 0)',
        'x.toml:11:38: listeners.web.routes[0].rate_limit.rate: unknown key',
      ],
    },
    {
      name: 'not a table',
      extra: ['[[listeners.web.routes]]', 'pool = "p"', 'rate_limit = 100'],
      want: ['x.toml:11:1: listeners.web.routes[0].rate_limit: must be a table (got 100)'],
    },
  ];
  for (const c of cases) t.same(lines(c.extra), c.want, c.name);
  const bad = parseConfigText(['[listeners.web]', 'protocol = "http"', 'bind = "127.0.0.1:8080"', 'pool = "p"', 'header_timeout = 10', '[pools.p]', 'backends = [{ address = "127.0.0.1:8081" }]'].join('\n'), 'x.toml');
  t.same(bad.ok ? [] : bad.problems.map(formatProblem), ['x.toml:5:1: listeners.web.header_timeout: must be a duration string with a unit, e.g. "10s" or "10ms" (got 10)']);
});

t.test('typed values: defaults and burst = requests when unset', async (t) => {
  const r = parseConfigText(
    [...HEAD, '[[listeners.web.routes]]', 'pool = "p"', 'rate_limit = { requests = 100 }', '[[listeners.web.routes]]', 'pool = "p"', 'path_prefix = "/x/"', 'rate_limit = { requests = 5, per = "1m", burst = 20 }'].join('\n'),
    'x.toml',
  );
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  const web = r.config.listeners[0]!;
  t.equal(web.headerTimeoutMs, 10_000, 'header_timeout default 10s on http listeners');
  t.same(web.routes[0]!.rateLimit, { requests: 100, perMs: 1000, burst: 100 });
  t.same(web.routes[1]!.rateLimit, { requests: 5, perMs: 60_000, burst: 20 });
  t.ok(Object.isFrozen(web.routes[1]!.rateLimit));
  const tcp = parseConfigText(['[listeners.t]', 'bind = "127.0.0.1:1"', 'pool = "p"', '[pools.p]', 'backends = [{ address = "127.0.0.1:2" }]'].join('\n'), 'y.toml');
  t.ok(tcp.ok && !('headerTimeoutMs' in tcp.config.listeners[0]!), 'absent on tcp listeners');
});
