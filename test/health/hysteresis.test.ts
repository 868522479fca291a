// Rise/fall as a pure function of the result sequence.
import t from 'tap';
import { Hysteresis } from '../../src/health/hysteresis.js';

const cases: Array<{ name: string; rise: number; fall: number; up: boolean; seq: string; want: string }> = [
  // seq: p = pass, f = fail; want: one letter per result: U went_up, D went_down, . unchanged
  { name: 'starts down, needs rise passes', rise: 2, fall: 3, up: false, seq: 'ppp', want: '.U.' },
  { name: 'starts up, needs fall failures', rise: 2, fall: 3, up: true, seq: 'ffff', want: '..D.' },
  { name: 'a pass resets the failure run', rise: 2, fall: 3, up: true, seq: 'ffpfff', want: '.....D' },
  { name: 'a failure resets the pass run', rise: 3, fall: 1, up: false, seq: 'ppfppp', want: '.....U' },
  { name: 'rise 1 fall 1 follows every result', rise: 1, fall: 1, up: false, seq: 'pfpf', want: 'UDUD' },
  { name: 'flapping never changes state with rise 2 fall 2', rise: 2, fall: 2, up: true, seq: 'fpfpfp', want: '......' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const h = new Hysteresis(c.rise, c.fall, c.up);
    const got = [...c.seq].map((r) => ({ went_up: 'U', went_down: 'D', unchanged: '.' })[h.record(r === 'p')]).join('');
    t.equal(got, c.want);
  });
}
