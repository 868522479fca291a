#!/usr/bin/env node
// `npm ci` / `npm install` step: build lb's two addons (native/udp_batch.cc, batched UDP, and
// native/tcp_relay.cc, the TCP relay) with the node-gyp that ships with npm. They are
// optional: when they cannot be built (no compiler, not Linux), lb says so here and its
// listeners use Node's own handles instead (dgram's, and libuv TCP handles moved from
// JavaScript), so the install still succeeds. LB_SKIP_NATIVE=1 skips the build.
// `node-gyp rebuild` removes build/ before it compiles, so a failed rebuild would also throw
// away addons that worked: they are copied aside first and put back if the rebuild fails.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// fileURLToPath, not URL.pathname: a checkout path with spaces (or other escaped characters)
// must stay a path ("/a b/", not "/a%20b/").
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const release = path.join(root, 'build', 'Release');
/** When node-gyp fails: its last lines, after the first compiler error lines. */
const TAIL_LINES = 8;
const ERROR_LINES = 5;

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  try {
    return createRequire(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
}

/** Copy the addons of an earlier build aside; returns the temp dir and their names (none: null). */
function backUp() {
  const addons = existsSync(release) ? readdirSync(release).filter((f) => f.endsWith('.node')) : [];
  if (addons.length === 0) return null;
  const dir = mkdtempSync(path.join(tmpdir(), 'lb-native-'));
  for (const f of addons) copyFileSync(path.join(release, f), path.join(dir, f));
  return { dir, addons };
}

/** Put back the backed-up addons the failed rebuild left missing; returns their names. */
function restore(backup) {
  mkdirSync(release, { recursive: true });
  const restored = [];
  for (const f of backup.addons) {
    if (existsSync(path.join(release, f))) continue;
    copyFileSync(path.join(backup.dir, f), path.join(release, f));
    restored.push(f);
  }
  return restored;
}

function main() {
  if (process.env.LB_SKIP_NATIVE === '1') return say('skipped (LB_SKIP_NATIVE=1)');
  if (process.platform !== 'linux') return say(`not built on ${process.platform} (they use Linux calls: recvmmsg, sendmmsg, MSG_NOSIGNAL)`);
  const gyp = nodeGyp();
  if (gyp === null) return say("not built: npm's node-gyp was not found");
  const args = [gyp, 'rebuild'];
  // Build against this Node's own headers when they are installed, instead of downloading them.
  if (!process.env.npm_config_nodedir && existsSync(path.join(path.dirname(process.execPath), '..', 'include', 'node', 'node_api.h'))) {
    args.push(`--nodedir=${path.join(path.dirname(process.execPath), '..')}`);
  }
  const backup = backUp();
  try {
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    if (r.status === 0) return say('built build/Release/udp_batch.node and build/Release/tcp_relay.node');
    const why = r.error !== undefined ? `node-gyp could not run: ${r.error.message}` : `node-gyp exited ${r.status ?? r.signal}`;
    const lines = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n');
    // The compiler's own error lines say why; node-gyp's last lines say where it stopped.
    const errors = lines.filter((l) => /\berror\b/i.test(l) && !l.startsWith('gyp ')).slice(0, ERROR_LINES);
    const tail = [...errors, ...lines.slice(-TAIL_LINES).filter((l) => !errors.includes(l))].join('\n').trim();
    const restored = backup === null ? [] : restore(backup);
    const kept = existsSync(release) ? readdirSync(release).filter((f) => f.endsWith('.node')) : [];
    let outcome;
    if (restored.length > 0) outcome = `kept the previous build: restored ${restored.map((f) => `build/Release/${f}`).join(', ')} from before the rebuild`;
    else if (kept.length > 0) outcome = `build/Release has ${kept.join(', ')}`;
    else outcome = "listeners will use Node's own handles";
    say(`${backup === null ? 'not built' : 'not rebuilt'} (${why}); ${outcome}.${tail === '' ? '' : `\nnode-gyp's output (errors, then its last lines):\n${tail}`}`);
  } finally {
    if (backup !== null) rmSync(backup.dir, { recursive: true, force: true });
  }
}

function say(what) {
  process.stdout.write(`lb: native addons ${what}\n`);
}

main();
