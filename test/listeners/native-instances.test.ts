// The native relay keeps its state per addon instance (napi instance data): the main thread
// and two worker_threads each load it and relay at the same time, each through its own
// epoll set and session table; a worker terminated with a session still open takes only that
// session with it (its instance's finalizer closes its sockets), and the main thread goes on
// relaying. Before, one process-wide state meant a second thread's init took over the first
// one's callback and sessions.
import t from 'tap';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';

const workerUrl = new URL('../support/native-instance-worker.mjs', import.meta.url);
const mod = (await import(workerUrl.href)) as {
  relay: unknown;
  reason: string | null;
  startRelay(): Promise<{ port: number; roundTrip(text: string): Promise<string>; close(): void }>;
};

if (mod.relay === null) {
  t.plan(0, `native relay not loaded here: ${mod.reason ?? ''}`);
} else {
  t.test('main thread and two workers relay side by side; a worker exit leaves the main thread relaying', async (t) => {
    const main = await mod.startRelay();
    t.teardown(() => main.close());
    t.equal(await main.roundTrip('hello from main'), 'hello from main');

    const start = (n: number): { w: Worker; result: Promise<{ echoed?: string; error?: string }> } => {
      const w = new Worker(workerUrl, { workerData: { role: 'relay-worker', n } });
      const result = new Promise<{ echoed?: string; error?: string }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      return { w, result };
    };
    const a = start(1);
    const b = start(2);
    // While both workers relay, the main thread's relay still works.
    const [ra, rb, rm] = await Promise.all([a.result, b.result, main.roundTrip('main, workers up')]);
    t.equal(ra.error, undefined, 'worker 1 loaded its own instance');
    t.equal(rb.error, undefined, 'worker 2 loaded its own instance');
    t.equal(ra.echoed, 'hello from worker 1');
    t.equal(rb.echoed, 'hello from worker 2');
    t.equal(rm, 'main, workers up');

    // Worker 1 ends with a relayed session still open: its finalizer closes it; nothing else.
    const exited = once(a.w, 'exit');
    await a.w.terminate();
    await exited;
    t.equal(await main.roundTrip('main after worker 1 exit'), 'main after worker 1 exit');

    await b.w.terminate();
    t.equal(await main.roundTrip('main after both exits'), 'main after both exits');
  });
}
