// conf/lb.service is installable as it is: `systemd-analyze verify` accepts it (with the
// binary path pointed at this checkout), and it carries what the SPEC and operators need.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LB_BIN } from '../support/lb-process.js';

const unit = readFileSync(new URL('../../conf/lb.service', import.meta.url), 'utf8');

t.test('unit has the operator contract', async (t) => {
  t.match(unit, /^ExecStart=\/usr\/local\/bin\/lb run -c \/etc\/lb\/lb\.toml$/m);
  t.match(unit, /^ExecStartPre=\/usr\/local\/bin\/lb check -c \/etc\/lb\/lb\.toml$/m);
  t.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  t.match(unit, /^Restart=on-failure$/m);
  t.match(unit, /^LimitNOFILE=\d{6,}$/m);
  t.match(unit, /^NoNewPrivileges=yes$/m);
  t.match(unit, /^ProtectSystem=strict$/m);
  t.match(unit, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  t.match(unit, /^(DynamicUser=yes|User=\S+)$/m);
});

t.test('systemd-analyze verify accepts it', async (t) => {
  if (spawnSync('systemd-analyze', ['--version'], { stdio: 'ignore' }).status !== 0) {
    t.skip('systemd-analyze not installed', () => {});
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'lb-unit-'));
  const file = join(dir, 'lb.service');
  writeFileSync(file, unit.replaceAll('/usr/local/bin/lb', LB_BIN));
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr.split('\n').filter((l) => l.includes('lb.service')).join('\n'), '', 'no warnings about the unit');
});
