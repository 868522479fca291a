// Plain Backend objects for the pure selector tests: backend i is 10.0.(i>>8).(i&255):5432.
import { Backend } from '../../src/pool/backend.js';

export function backend(i: number, weight = 1): Backend {
  const host = `10.0.${i >> 8}.${i & 255}`;
  return new Backend({ host, port: 5432, family: 4, text: `${host}:5432` }, weight);
}

/** One backend per weight, numbered from 1. */
export function backends(weights: readonly number[]): Backend[] {
  return weights.map((w, i) => backend(i + 1, w));
}

/** A mutable context, reused across picks as the pool does. */
export function context(clientIp = '192.0.2.1', clientPort = 40000): { clientIp: string; clientPort: number } {
  return { clientIp, clientPort };
}
