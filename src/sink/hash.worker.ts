/**
 * The sha256 thread (hasher.ts starts it; one serves every open file). Messages are handled in
 * order, so a digest request sees every earlier update.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export type ToHasher =
  | { op: 'open'; id: number }
  | { op: 'chunk'; id: number; buffer: ArrayBuffer }
  /** spans: [block id, start, length, its SharedArrayBuffer the first time the block is sent, else 0]... */
  | { op: 'blocks'; id: number; spans: (number | SharedArrayBuffer)[] }
  | { op: 'digest'; id: number }
  | { op: 'drop'; id: number }
  | { op: 'forget'; block: number };

export interface FromHasher {
  id: number;
  hex?: string;
  error?: string;
  hashed?: number;
}

const jobs = new Map<number, Hash>();
const blocks = new Map<number, Uint8Array>();

const port = parentPort!;
port.on('message', (m: ToHasher) => {
  if (m.op === 'forget') {
    blocks.delete(m.block);
    return;
  }
  const job = jobs.get(m.id);
  if (m.op === 'open') {
    jobs.set(m.id, createHash('sha256'));
  } else if (m.op === 'chunk') {
    job?.update(new Uint8Array(m.buffer));
  } else if (m.op === 'blocks') {
    for (let i = 0; i < m.spans.length; i += 4) {
      const n = m.spans[i] as number;
      const memory = m.spans[i + 3];
      if (memory) blocks.set(n, new Uint8Array(memory as SharedArrayBuffer));
      const start = m.spans[i + 1] as number;
      if (job) job.update(blocks.get(n)!.subarray(start, start + (m.spans[i + 2] as number)));
    }
    // Always answered, even for a dropped file: the sender waits for its spans to come back.
    port.postMessage({ id: m.id, hashed: m.spans.length / 4 } satisfies FromHasher);
  } else if (m.op === 'digest') {
    jobs.delete(m.id);
    port.postMessage({
      id: m.id,
      hex: job ? job.digest('hex') : undefined,
      error: job ? undefined : 'unknown hash job',
    } satisfies FromHasher);
  } else if (m.op === 'drop') {
    jobs.delete(m.id);
  }
});
