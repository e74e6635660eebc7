/** Byte fixtures shared by tests. */
import { createHash } from 'node:crypto';

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** sha256 as hex. */
export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
