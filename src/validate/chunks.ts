/**
 * A shard's bytes as chunks, for scans that hold no chunk memory past the chunk after next. Local
 * files are read into a small ring of reused buffers, one read ahead: a fresh 1 MB buffer per
 * chunk (what a read stream allocates) cost more than the scan itself — page faults on new memory,
 * and a full GC every few dozen MB of external memory. Other sources stream as usual.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { LocalSource } from '../source/local.ts';
import type { Source } from '../source/types.ts';

const CHUNK = 4 << 20;
/** A yielded chunk stays intact while the two after it are handed out (one more is being read). */
const RING = 4;

async function* ringChunks(file: string): AsyncGenerator<Uint8Array> {
  const fh = await open(file, 'r');
  let pending: Promise<{ bytesRead: number }> | null = null;
  try {
    const ring = Array.from({ length: RING }, () => new Uint8Array(CHUNK));
    let k = 0;
    let pos = 0;
    pending = fh.read(ring[0]!, 0, CHUNK, 0);
    for (;;) {
      const { bytesRead } = await pending;
      pending = null;
      if (bytesRead === 0) return;
      const cur = ring[k]!;
      pos += bytesRead;
      k = (k + 1) % RING;
      pending = fh.read(ring[k]!, 0, CHUNK, pos);
      yield cur.subarray(0, bytesRead);
    }
  } finally {
    await pending?.catch(() => undefined);
    await fh.close();
  }
}

/**
 * The chunks of `p`. With `reuse`, a chunk's memory is overwritten once two more chunks were
 * handed out: the caller must copy what it keeps longer.
 */
export function shardChunks(source: Source, p: string, reuse: boolean): AsyncIterable<Uint8Array> {
  if (reuse && source instanceof LocalSource) return ringChunks(path.join(source.root, p));
  return source.stream(p);
}
