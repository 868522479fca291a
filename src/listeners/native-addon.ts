// lb's own addons (native/*.cc, built by `npm ci` into build/Release/): the one place that
// finds and loads them, and says why when it cannot. Each addon exports an ABI number that is
// bumped whenever its calls change; a build left from another version of lb is refused
// instead of being called with the wrong arguments. Without an addon the listeners run on the
// portable data path (node:net, node:dgram).
import { createRequire } from 'node:module';

export type AddonName = 'udp_batch' | 'tcp_relay';

/** The ABI each addon must report (native/tcp_relay.cc kAbi, native/udp_batch.cc "ABI"). */
const ABI: Record<AddonName, number> = { tcp_relay: 3, udp_batch: 2 };

export type Loaded<T> = { addon: T; reason: null } | { addon: null; reason: string };

export function loadAddon<T>(name: AddonName): Loaded<T> {
  if (process.platform !== 'linux') return { addon: null, reason: `not built on ${process.platform} (the addons use Linux calls)` };
  let addon: { ABI?: unknown };
  try {
    // dist/listeners/ (or src/listeners/ under the tests) → build/Release/ at the package root.
    addon = createRequire(import.meta.url)(`../../build/Release/${name}.node`) as { ABI?: unknown };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND') return { addon: null, reason: `build missing: build/Release/${name}.node (npm ci says why it was not built)` };
    return { addon: null, reason: `load error: ${e.message.split('\n')[0]}` };
  }
  if (addon.ABI !== ABI[name]) {
    return { addon: null, reason: `ABI mismatch: build/Release/${name}.node has ${String(addon.ABI)}, this lb wants ${ABI[name]} (run npm ci to rebuild)` };
  }
  return { addon: addon as T, reason: null };
}
