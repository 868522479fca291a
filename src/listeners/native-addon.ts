// lb's own addons (native/*.cc, built by `npm ci` into build/Release/): the one place that
// finds and loads them. Null on a platform other than Linux or when the build did not
// happen; the listeners then use Node's own handles.
import { createRequire } from 'node:module';

export function loadAddon<T>(name: 'udp_batch' | 'tcp_relay'): T | null {
  if (process.platform !== 'linux') return null;
  try {
    // dist/listeners/ (or src/listeners/ under the tests) → build/Release/ at the package root.
    return createRequire(import.meta.url)(`../../build/Release/${name}.node`) as T;
  } catch {
    return null;
  }
}
