// The data paths a test can run on here: portable always, native where lb's addons built.
import { existsSync } from 'node:fs';

export function pathsHere(): ('native' | 'portable')[] {
  const built = existsSync(new URL('../../build/Release/tcp_relay.node', import.meta.url)) && existsSync(new URL('../../build/Release/udp_batch.node', import.meta.url));
  return built ? ['native', 'portable'] : ['portable'];
}
