// readConfigFile against real files: only a regular file of at most CONFIG_MAX_BYTES is read.
// A FIFO, a device, a directory or a socket is one problem, not a hang or a 16 GB read; so is
// an oversize file. The same problems reach `lb check`, `lb run` and a reload.
import t from 'tap';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_MAX_BYTES, loadConfigFile, readConfigFile } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/validate.js';
import { collect, connect, echoServer } from '../support/backends.js';
import { startLb, simpleConfig } from '../support/lb.js';
import { runLb } from '../support/lb-process.js';

const GOOD = simpleConfig([5432]);

/** The problem lines for `file`, or [] when it loaded. */
function problems(file: string): string[] {
  const r = loadConfigFile(file);
  return r.ok ? [] : r.problems.map(formatProblem);
}

function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

t.test('a regular file, directly or through a symbolic link, is read', async (t) => {
  const dir = t.testdir({ 'lb.toml': GOOD });
  const file = join(dir, 'lb.toml');
  const link = join(dir, 'link.toml');
  symlinkSync(file, link);
  const viaLink = join(dir, 'link2.toml');
  symlinkSync('link.toml', viaLink); // a chain of two relative links
  for (const path of [file, link, viaLink]) {
    const r = loadConfigFile(path);
    t.equal(r.ok, true, path);
    if (r.ok) t.equal(r.config.source, path, 'the source is the path given, not the link target');
  }
  const read = readConfigFile(link);
  t.same(read, { ok: true, text: GOOD });
});

t.test('what is not a regular file is refused before it is read', async (t) => {
  const dir = t.testdir({ sub: {} });
  const fifo = mkfifo(join(dir, 'fifo'));
  const linkToFifo = join(dir, 'fifo-link.toml');
  symlinkSync(fifo, linkToFifo);
  // A short path: a socket path longer than sun_path (108 bytes) is cut by libuv.
  const sockDir = mkdtempSync(join(tmpdir(), 'lb-'));
  t.teardown(() => rmSync(sockDir, { recursive: true, force: true }));
  const sock = join(sockDir, 'sock');
  const server = net.createServer();
  server.on('error', (err) => t.error(err));
  server.listen(sock);
  await once(server, 'listening');
  t.teardown(() => server.close());

  const cases: Array<[path: string, kind: string]> = [
    [join(dir, 'sub'), 'a directory'],
    [fifo, 'a FIFO'],
    [linkToFifo, 'a FIFO'],
    ['/dev/zero', 'a character device'],
    ['/dev/urandom', 'a character device'],
    ['/dev/null', 'a character device'],
    [sock, 'a socket'],
  ];
  for (const [path, kind] of cases) {
    t.same(problems(path), [`${path}: not a regular file (${kind})`], path);
  }
});

t.test('a block device is refused too (where one is readable)', async (t) => {
  const dev = ['/dev/loop0', '/dev/sda', '/dev/vda', '/dev/nvme0n1'].find((d) => existsSync(d) && readable(d));
  if (dev === undefined) return t.skip('no readable block device here', () => {});
  t.same(problems(dev), [`${dev}: not a regular file (a block device)`]);
});

t.test('size cap: CONFIG_MAX_BYTES is read, one byte more is refused', async (t) => {
  t.equal(CONFIG_MAX_BYTES, 1024 * 1024);
  // A valid config padded with a comment to exactly the cap.
  const pad = (total: number): string => {
    const head = `${GOOD}#`;
    return `${head}${'x'.repeat(total - Buffer.byteLength(head) - 1)}\n`;
  };
  const dir = t.testdir({ 'at-cap.toml': pad(CONFIG_MAX_BYTES), 'over.toml': pad(CONFIG_MAX_BYTES + 1), 'huge.toml': '' });
  const huge = join(dir, 'huge.toml');
  // 64 MiB of holes: a sparse file whose size alone is reported, never read.
  execFileSync('truncate', ['-s', String(64 * 1024 * 1024), huge]);
  const atCap = loadConfigFile(join(dir, 'at-cap.toml'));
  t.equal(atCap.ok, true, atCap.ok ? 'at the cap' : atCap.problems.map(formatProblem).join('\n'));
  t.same(problems(join(dir, 'over.toml')), [`${join(dir, 'over.toml')}: larger than 1 MiB (got ${CONFIG_MAX_BYTES + 1} bytes)`]);
  t.same(problems(huge), [`${huge}: larger than 1 MiB (got ${64 * 1024 * 1024} bytes)`]);
  const link = join(dir, 'over-link.toml');
  symlinkSync(join(dir, 'over.toml'), link);
  t.same(problems(link), [`${link}: larger than 1 MiB (got ${CONFIG_MAX_BYTES + 1} bytes)`], 'the target size counts');
});

t.test('the read is bounded even when the size from stat is not the content', async (t) => {
  // /proc files are regular files of size 0 that produce their text when read: the same as a
  // file that grew after the fstat. /proc/kallsyms is megabytes long.
  const small = '/proc/self/status';
  if (readable(small)) {
    const r = readConfigFile(small);
    t.equal(r.ok, true, 'a size-0 regular file is still read to its end');
    if (r.ok) t.match(r.text, /^Name:/);
  }
  const big = '/proc/kallsyms';
  if (!readable(big)) return t.skip('no readable /proc/kallsyms', () => {});
  t.same(problems(big), [`${big}: larger than 1 MiB (got more than ${CONFIG_MAX_BYTES} bytes)`]);
});

t.test('errors from the path itself keep their errno', async (t) => {
  const dir = t.testdir({ 'lb.toml': GOOD });
  const missing = join(dir, 'nope.toml');
  t.same(problems(missing), [`${missing}: cannot read config file: no such file (ENOENT)`]);
  const notDir = join(dir, 'lb.toml', 'x.toml');
  t.same(problems(notDir), [`${notDir}: cannot read config file: a part of the path is not a directory (ENOTDIR)`]);
  const dangling = join(dir, 'dangling.toml');
  symlinkSync(join(dir, 'gone.toml'), dangling);
  t.same(problems(dangling), [`${dangling}: cannot read config file: no such file (ENOENT)`]);
  const loop = join(dir, 'loop.toml');
  symlinkSync(loop, loop);
  t.same(problems(loop), [`${loop}: cannot read config file: too many symbolic links (ELOOP)`]);
});

t.test('a reload from a FIFO or a device is rejected and the old config keeps serving', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const dir = t.testdir({});
  const fifo = mkfifo(join(dir, 'fifo.toml'));
  const lb = await startLb(t, simpleConfig([echo.port]));
  for (const path of [fifo, '/dev/zero', dir]) {
    const r = await lb.runtime.reload(path);
    t.equal(r.ok, false, path);
    if (!r.ok) t.match(r.problems.map(formatProblem), [new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a regular file \\(`)]);
  }
  t.equal(lb.runtime.reloads.rejected, 3);
  t.equal(lb.logs.matching({ msg: 'reload rejected; the running config is unchanged' }).length, 3);
  const s = await connect(lb.port('front'));
  const got = collect(s);
  s.end('still here');
  t.equal((await got).data.toString(), 'still here', 'the old config still serves');
});

t.test('the built program: lb check and lb run exit 2 with the problem', async (t) => {
  const dir = t.testdir({ 'big.toml': `${GOOD}#${'x'.repeat(CONFIG_MAX_BYTES)}\n` });
  const fifo = mkfifo(join(dir, 'fifo.toml'));
  const zero = await runLb(['check', '-c', '/dev/zero']);
  t.equal(zero.code, 2, zero.stderr);
  t.match(zero.stderr, /^\/dev\/zero: not a regular file \(a character device\)$/m);
  const viaFifo = await runLb(['check', '-c', fifo]);
  t.equal(viaFifo.code, 2, viaFifo.stderr);
  t.ok(viaFifo.stderr.includes(`${fifo}: not a regular file (a FIFO)\n`), viaFifo.stderr);
  const big = join(dir, 'big.toml');
  const run = await runLb(['run', '-c', big]);
  t.equal(run.code, 2, run.stderr);
  t.ok(run.stderr.includes(`${big}: larger than 1 MiB (got ${Buffer.byteLength(GOOD) + CONFIG_MAX_BYTES + 2} bytes)\n`), run.stderr);
  const runFifo = await runLb(['run', '-c', fifo]);
  t.equal(runFifo.code, 2, runFifo.stderr);
  t.ok(runFifo.stderr.includes(`${fifo}: not a regular file (a FIFO)\n`), runFifo.stderr);
});
