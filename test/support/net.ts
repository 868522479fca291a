// Small network facts for tests: whether IPv6 loopback works here, and a free port.
import net from 'node:net';
import { once } from 'node:events';

/** True when this host can listen on ::1 (IPv6 tests skip otherwise). */
export async function has6(): Promise<boolean> {
  const s = net.createServer();
  try {
    s.listen(0, '::1');
    await once(s, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

/**
 * A loopback port nothing listens on right now: bind port 0, read the port, close. For
 * peers that cannot listen on port 0 themselves (redis-server, dnsmasq, nginx), and as a
 * dead port (connects get ECONNREFUSED).
 */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
