// The one Node internal lb relies on (src/listeners/node-internals.ts): the fd of an accepted
// net.Socket, which the native path hands to the relay. If a Node release changes it, this
// fails loudly here (the listener itself would quietly fall back to the portable path).
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { fstatSync, readFileSync, readlinkSync } from 'node:fs';
import { socketFd } from '../../src/listeners/node-internals.js';

t.test('an accepted socket exposes its fd, and the fd is that connection', async (t) => {
  const accepted: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
  await Promise.all(clients.map((c) => once(c, 'connect')));
  while (accepted.length < 2) await once(server, 'connection');
  const fds = accepted.map(socketFd);
  t.ok(fds.every((fd) => fd >= 0), `both have an fd (${fds.join(', ')})`);
  t.not(fds[0], fds[1], 'one fd each');
  for (const [i, fd] of fds.entries()) {
    t.ok(fstatSync(fd).isSocket(), `fd ${fd} is a socket`);
    if (process.platform !== 'linux') continue;
    // /proc/net/tcp names the socket (by inode) whose peer is this client's local port.
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    const hex = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
    const row = readFileSync('/proc/net/tcp', 'utf8').split('\n').find((l) => {
      const f = l.trim().split(/\s+/);
      return f[1]?.endsWith(':' + hex(port)) && f[2]?.endsWith(':' + hex(clients[i]!.localPort!));
    });
    t.equal(row?.trim().split(/\s+/)[9], inode, `fd ${fd} is the connection from client port ${clients[i]!.localPort}`);
  }
  for (const s of accepted) s.destroy();
  for (const c of clients) c.destroy();
});

t.test('a socket without a handle has no fd', async (t) => {
  const s = new net.Socket();
  t.equal(socketFd(s), -1);
  s.destroy();
});
