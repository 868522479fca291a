// Random payloads and digests for byte-exact comparisons.
import { createHash, randomBytes } from 'node:crypto';

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function randomPayload(size: number): Buffer {
  return randomBytes(size);
}
