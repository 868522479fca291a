#!/usr/bin/env node
// `npm ci` / `npm install` step: build lb's two addons (native/udp_batch.cc, batched UDP, and
// native/tcp_relay.cc, the TCP relay) with the node-gyp that ships with npm. They are
// optional: when they cannot be built (no compiler, not Linux), lb says so here and its
// listeners use Node's own handles instead (dgram's, and libuv TCP handles moved from
// JavaScript), so the install still succeeds. LB_SKIP_NATIVE=1 skips the build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  try {
    return createRequire(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'package.json')).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return null;
  }
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
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-8).join('\n');
    return say(`not built (node-gyp exited ${r.status ?? r.signal}); listeners will use Node's own handles.\n${tail}`);
  }
  say('built build/Release/udp_batch.node and build/Release/tcp_relay.node');
}

function say(what) {
  process.stdout.write(`lb: native addons ${what}\n`);
}

main();
