/** Byte fixtures shared by tests. */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

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

/** sha256 of every file under `root`, keyed by its path relative to it ('/'-separated). */
export async function hashTree(root: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, await hashTree(root, p));
    else out[p] = sha(await readFile(path.join(root, p)));
  }
  return out;
}

/** A Hub token made for one test run (`hf_` + 32 hex): nothing token-like is committed. */
export function testToken(): string {
  return `hf_${randomBytes(16).toString('hex')}`;
}
