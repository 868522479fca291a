// One relay round trip through the native TCP relay addon, in whichever thread imports this
// (the main thread or a worker_thread): an echo server, a front server whose accepted socket
// is handed to the relay, which dials the echo server; a client writes a line and reads it
// back. Each thread gets its own addon instance (napi instance data), so the relays of
// several threads must run side by side, and a thread that exits must take only its own
// sessions with it. Uses the built dist/ (npm ci builds it) so that no TypeScript loader is
// needed inside a worker.
import net from 'node:net';
import { once } from 'node:events';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';

const relayMod = await import(new URL('../../dist/listeners/tcp/tcp-relay.js', import.meta.url).href);
const { socketFd } = await import(new URL('../../dist/listeners/node-internals.js', import.meta.url).href);
export const relay = relayMod.tcpRelay;
export const reason = relayMod.tcpRelayReason;

/** Servers for relayed sessions; `roundTrip(text)` sends text through the relay and resolves with what came back. */
export async function startRelay() {
  const echo = net.createServer((s) => s.pipe(s));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const echoPort = echo.address().port;
  const sessions = new Set();
  const front = net.createServer((sock) => {
    const owner = { relayEvent() {} };
    const id = relay.open(owner, socketFd(sock), null, false);
    sessions.add(id);
    sock.destroy(); // the relay holds its own duplicate of the fd
    const rc = relay.dial(id, 4, '127.0.0.1', echoPort);
    if (rc !== 0) throw new Error(`dial returned ${rc}`);
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  const port = front.address().port;
  return {
    port,
    async roundTrip(text) {
      const c = net.connect(port, '127.0.0.1');
      await once(c, 'connect');
      c.write(text);
      let got = '';
      c.setEncoding('utf8');
      for await (const chunk of c) {
        got += chunk;
        if (got.length >= text.length) break;
      }
      c.destroy();
      return got;
    },
    /** A client whose session stays open (for a thread that exits with sessions in flight). */
    async openClient() {
      const c = net.connect(port, '127.0.0.1');
      await once(c, 'connect');
      c.write('x');
      await once(c, 'data');
      return c;
    },
    close() {
      front.close();
      echo.close();
    },
  };
}

if (!isMainThread && workerData?.role === 'relay-worker') {
  if (relay === null) {
    parentPort.postMessage({ error: `relay not loaded in worker: ${reason}` });
  } else {
    const r = await startRelay();
    const echoed = await r.roundTrip(`hello from worker ${workerData.n}`);
    // A session left open when the worker is terminated.
    await r.openClient();
    parentPort.postMessage({ echoed, port: r.port });
  }
}
