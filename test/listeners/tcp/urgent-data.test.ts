// TCP urgent data (MSG_OOB, as telnet sends for its Synch) in the middle of a stream: the
// kernel ends a read at the urgent mark although more bytes are queued behind it. A relay
// that took that short read for "nothing left" under edge-triggered polling would leave the
// rest unread until the peer sent again (found in review). The client sends everything at
// once, usually before lb reads it (lb reads a client only once its backend is up), and
// keeps its side open, so no FIN comes to the rescue. An urgent byte is out of band (no
// SO_OOBINLINE) until a later one replaces it, when it joins the stream; which happens
// depends on when the receiver reads, so the first of the two urgent bytes may or may not
// arrive, straight or through lb. Everything else must arrive, in order, and nothing hangs.
// The client is python3 (Node cannot send OOB).
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { echoServer } from '../../support/backends.js';
import { havePython } from '../../support/blackhole.js';
import { startLb, simpleConfig } from '../../support/lb.js';

const CLIENT = `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
s.sendall(b"hello")
s.send(b"!", socket.MSG_OOB)
s.sendall(b"world")
s.send(b"?", socket.MSG_OOB)
s.sendall(b"again")
got = b""
try:
    while not got.endswith(b"again"):
        d = s.recv(65536)
        if not d:
            break
        got += d
    print(got.decode())
except socket.timeout:
    print("TIMEOUT after " + got.decode())
s.close()
`;

async function run(port: number): Promise<string> {
  const child = spawn('python3', ['-c', CLIENT, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await once(child, 'exit');
  return out.trim();
}

t.test('urgent data mid-stream: every byte around it arrives', async (t) => {
  if (!(await havePython())) {
    t.skip('python3 not found: the OOB client needs it', () => {});
    return;
  }
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const stream = /^hello!?worldagain$/;
  const direct = await run(echo.port);
  t.match(direct, stream, `straight to the backend: ${direct}`);
  const lb = await startLb(t, simpleConfig([echo.port]));
  for (let i = 0; i < 5; i++) {
    const got = await run(lb.port('front'));
    t.match(got, stream, `client ${i}: through lb, every byte around the urgent ones, in order (${got})`);
  }
  const lines = await lb.logs.waitForCount({ msg: 'session ended' }, 5);
  t.ok(lines.every((l) => l.end === 'client_closed'), 'each session ended by the client\'s FIN');
});
