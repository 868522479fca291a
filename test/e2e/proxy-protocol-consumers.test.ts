// PROXY headers from src/listeners/proxy-protocol.ts read by real receivers nobody here wrote:
// Debian's nginx (`listen … proxy_protocol`) and HAProxy (`bind … accept-proxy`), each answering
// an HTTP/1.0 request with the addresses and ports it took from the header. The TCP connection
// is always over 127.0.0.1; IPv6 lives only in the header. No lb process is involved.
// Each consumer skips with a message when its binary is not installed.
import t from 'tap';
import { freePort } from '../support/net.js';
import type { Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  encodeProxyV1,
  encodeProxyV2,
  encodeProxyV2Local,
  type ProxyEndpoint,
} from '../../src/listeners/proxy-protocol.js';
import { parseProxyHeader } from '../support/proxy-protocol-parser.js';

const NGINX = '/usr/sbin/nginx';
const HAPROXY = '/usr/sbin/haproxy';
const REQUEST = Buffer.from('GET / HTTP/1.0\r\nHost: test\r\n\r\n', 'latin1');

interface Consumer {
  readonly name: string;
  readonly binary: string;
  /** Write the config for `port` into `dir` and return the argv that runs it in the foreground. */
  configure(dir: string, port: number): string[];
  /** nginx leaves $proxy_protocol_port empty for port 0 (it treats 0 as "not set"). */
  readonly reportsPortZero: boolean;
}

const consumers: Consumer[] = [
  {
    name: 'nginx',
    binary: NGINX,
    reportsPortZero: false,
    configure(dir, port) {
      // Every path nginx may write is under `dir`; `-e stderr` keeps it off /var/log at startup.
      writeFileSync(
        path.join(dir, 'nginx.conf'),
        `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port} proxy_protocol;
    default_type text/plain;
    location / {
      return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port";
    }
  }
}
`,
      );
      return [NGINX, '-e', 'stderr', '-p', dir, '-c', path.join(dir, 'nginx.conf')];
    },
  },
  {
    name: 'haproxy',
    binary: HAPROXY,
    reportsPortZero: true,
    configure(dir, port) {
      // With accept-proxy, %ci/%cp and %fi/%fp are the source and destination from the header.
      writeFileSync(
        path.join(dir, 'haproxy.cfg'),
        `global
  maxconn 100
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:${port} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%ci %cp %fi %fp"
`,
      );
      return [HAPROXY, '-db', '-f', path.join(dir, 'haproxy.cfg')];
    },
  },
];

/** One header case: what we encode, and what a receiver must report (IPv6 in WHATWG canonical form). */
interface Case {
  readonly name: string;
  readonly src: ProxyEndpoint;
  readonly dst: ProxyEndpoint;
  readonly want: readonly [srcIp: string, srcPort: number, dstIp: string, dstPort: number];
}

const cases: Case[] = [
  { name: 'IPv4, ports 1 and 65535', src: { ip: '192.0.2.1', port: 1 }, dst: { ip: '198.51.100.2', port: 65535 }, want: ['192.0.2.1', 1, '198.51.100.2', 65535] },
  { name: 'IPv4, ports 256 and 255', src: { ip: '203.0.113.9', port: 256 }, dst: { ip: '203.0.113.10', port: 255 }, want: ['203.0.113.9', 256, '203.0.113.10', 255] },
  { name: 'IPv4, port 0', src: { ip: '192.0.2.7', port: 0 }, dst: { ip: '192.0.2.8', port: 0 }, want: ['192.0.2.7', 0, '192.0.2.8', 0] },
  { name: 'IPv6, two zero runs and ::1', src: { ip: '2001:db8:0:0:1:0:0:1', port: 65535 }, dst: { ip: '::1', port: 1 }, want: ['2001:db8::1:0:0:1', 65535, '::1', 1] },
  { name: 'IPv6, :: and fe80::1:2', src: { ip: '::', port: 80 }, dst: { ip: 'fe80::1:2', port: 256 }, want: ['::', 80, 'fe80::1:2', 256] },
  { name: 'IPv4-mapped on both ends: TCP4', src: { ip: '::ffff:10.1.2.3', port: 5 }, dst: { ip: '::ffff:10.1.2.4', port: 6 }, want: ['10.1.2.3', 5, '10.1.2.4', 6] },
  { name: 'mixed: IPv4 source mapped into TCP6', src: { ip: '10.0.0.1', port: 40000 }, dst: { ip: '2001:db8::2', port: 443 }, want: ['::ffff:a00:1', 40000, '2001:db8::2', 443] },
];

const canonical = (ip: string): string => (ip.includes(':') ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip);

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

interface Running {
  readonly port: number;
  readonly child: ChildProcess;
  stderr: string;
}

/** Start `consumer` in a fresh temp dir; ready once it accepts a TCP connection. */
async function start(t: Test, consumer: Consumer): Promise<Running> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `lb-pp-${consumer.name}-`));
  const port = await freePort();
  const [cmd, ...args] = consumer.configure(dir, port);
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const running: Running = { port, child, stderr: '' };
  child.stderr!.on('data', (d: Buffer) => (running.stderr += d.toString()));
  const exited = once(child, 'exit');
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // by the PID we spawned
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  // An external process: poll its port briefly (bounded) instead of parsing its log.
  for (let i = 0; !(await canConnect(port)); i++) {
    if (i >= 250 || child.exitCode !== null) throw new Error(`${consumer.name} did not start on ${port}: ${running.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return running;
}

interface Reply {
  /** Reset or closed with no response: the receiver refused the header. */
  readonly refused: boolean;
  readonly status: number;
  readonly body: string;
  /** Our socket's local port: the real client port a receiver falls back to. */
  readonly localPort: number;
}

/** Write header + request in one write (§2: the header goes at once), read until close. */
function ask(port: number, header: Buffer): Promise<Reply> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let localPort = 0;
    s.setTimeout(3000, () => s.destroy(new Error('no reply in 3 s')));
    s.on('connect', () => {
      localPort = s.localPort!;
      s.write(Buffer.concat([header, REQUEST]));
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({
        refused: text.length === 0,
        status: status ? Number(status[1]) : 0,
        body: split < 0 ? '' : text.slice(split + 4),
        localPort,
      });
    });
  });
}

/** Body "addr port addr port" → the four fields, addresses canonical, ports as numbers ('' stays ''). */
function fields(body: string): Array<string | number> {
  return body.split(' ').map((p, i) => (p === '' ? '' : i % 2 === 0 ? canonical(p) : Number(p)));
}

const sameFields = (a: ReadonlyArray<string | number>, b: ReadonlyArray<string | number>): boolean => JSON.stringify(a) === JSON.stringify(b);

for (const consumer of consumers) {
  const skip = existsSync(consumer.binary) ? false : `${consumer.name} not installed (${consumer.binary}; apt-get install ${consumer.name})`;
  t.test(consumer.name, { skip }, async (t) => {
    const running = await start(t, consumer);

    for (const c of cases) {
      for (const version of ['v1', 'v2'] as const) {
        t.test(`${version} ${c.name}`, async (t) => {
          const header = version === 'v1' ? encodeProxyV1(c.src, c.dst) : encodeProxyV2(c.src, c.dst, 'stream');
          const parsed = parseProxyHeader(header);
          t.same([parsed.srcIp, parsed.srcPort, parsed.dstIp, parsed.dstPort], c.want, 'the spec-side test parser agrees');
          const reply = await ask(running.port, header);
          t.equal(reply.status, 200, `accepted (${consumer.name} stderr: ${running.stderr.trim() || 'empty'})`);
          const want = c.want.map((v, i) => (i % 2 === 1 && v === 0 && !consumer.reportsPortZero ? '' : v));
          t.same(fields(reply.body), want, `${consumer.name} reports the encoded addresses and ports`);
        });
      }
    }

    // Headers without addresses. §2.1/§2.2 let the receiver use the real endpoints (and, for
    // PROXY + AF_UNSPEC, refuse). Accepted, the reply also proves the framing: the HTTP request
    // right after the header parsed.
    const noAddress: Array<[name: string, header: Buffer, mayRefuse: boolean]> = [
      ['v2 LOCAL', encodeProxyV2Local(), false],
      ['v1 UNKNOWN (invalid input)', encodeProxyV1({ ip: 'not-an-ip', port: 1 }, { ip: '::1', port: 2 }), false],
      ['v2 PROXY AF_UNSPEC (invalid input)', encodeProxyV2({ ip: 'not-an-ip', port: 1 }, { ip: '::1', port: 2 }, 'stream'), true],
    ];
    for (const [name, header, mayRefuse] of noAddress) {
      t.test(name, async (t) => {
        const reply = await ask(running.port, header);
        if (mayRefuse && reply.refused) {
          t.pass(`${consumer.name} refused it, as §2.2 allows`);
          return;
        }
        t.equal(reply.status, 200, 'accepted');
        const got = fields(reply.body);
        const real = ['127.0.0.1', reply.localPort, '127.0.0.1', running.port];
        t.ok(sameFields(got, real) || sameFields(got, ['', '', '', '']), `${consumer.name} uses the real endpoints or none (got ${JSON.stringify(got)})`);
      });
    }

    // DGRAM on a TCP listener. Neither consumer takes PROXY over UDP; §2.2 says a receiver falls
    // back to UNSPEC for a transport it does not support: refuse, or accept and use the real
    // endpoints. Accepted, the reply again proves the framing.
    t.test('v2 DGRAM: refused, or accepted with sane addresses', async (t) => {
      const reply = await ask(running.port, encodeProxyV2({ ip: '192.0.2.1', port: 1 }, { ip: '192.0.2.2', port: 2 }, 'dgram'));
      if (reply.refused) {
        t.pass(`${consumer.name} refused a DGRAM header on a stream listener`);
        return;
      }
      t.equal(reply.status, 200, 'accepted');
      const got = fields(reply.body);
      const allowed = [['192.0.2.1', 1, '192.0.2.2', 2], ['127.0.0.1', reply.localPort, '127.0.0.1', running.port], ['', '', '', '']];
      t.ok(allowed.some((a) => sameFields(got, a)), `${consumer.name} reports the header's, the real or no addresses (got ${JSON.stringify(got)})`);
    });
  });
}
