/**
 * sha256 of sink output off the main thread. Hashing 3 GB of shards costs ~3 s of CPU; on the main
 * thread that time is added to every convert, in a worker it overlaps encoding.
 *
 * One shared worker (hash.worker.ts) serves every open file. Two ways to feed it:
 *  - `BlockHasher` (local sink): spans of shared blocks (src/buffers), once written, are hashed
 *    where they are: both threads hold the memory, so a message names a block by id, start and
 *    length (no copy, no re-read of the file, no transfer);
 *  - `ChunkHasher` (remote sinks): each chunk is copied once into a transferred buffer.
 *
 * Why not transfer the blocks: every transfer makes a new ArrayBuffer object around the same
 * memory. Blocks circulate for a while, so those objects reached V8's old generation carrying
 * their 1 MiB each, and the main thread ran a full GC every few dozen MB written (90+ per 3 GB).
 * Messages to one worker are handled in order, so a digest request sees every earlier update.
 */
import type { Worker } from 'node:worker_threads';
import { onSharedBlockCollected } from '../buffers/index.ts';
import type { SharedBlock } from '../buffers/index.ts';
import { startWorker } from '../worker-file.ts';
import type { FromHasher, ToHasher } from './hash.worker.ts';

let worker: Worker | undefined;
let nextId = 1;
const waiting = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>();
/** Block hashers with blocks in the worker: told when blocks come back, or that none will. */
const blockOwners = new Map<number, BlockHasher>();

/** Keep the process alive only while something waits on the worker. */
function updateRef(): void {
  if (waiting.size > 0 || blockOwners.size > 0) worker?.ref();
  else worker?.unref();
}

function shared(): Worker {
  if (!worker) {
    const w = startWorker('sink/hash.worker.ts');
    w.on('message', (r: FromHasher) => {
      if (r.hashed !== undefined) {
        blockOwners.get(r.id)?.returned(r.hashed);
        return;
      }
      const p = waiting.get(r.id);
      if (!p) return;
      waiting.delete(r.id);
      if (r.error !== undefined) p.reject(new Error(`sha256 of output failed: ${r.error}`));
      else p.resolve(r.hex!);
      updateRef();
    });
    // A worker that dies (an error, or stopped) fails everything waiting on it, and the next file
    // starts a new one: nothing hangs on answers that will never come.
    const mine: WorkerLife = (life = {});
    const died = (err: Error): void => {
      if (worker !== w) return;
      worker = undefined;
      mine.death = err;
      for (const p of waiting.values()) p.reject(err);
      waiting.clear();
      for (const owner of blockOwners.values()) owner.failed(err);
      blockOwners.clear();
      sentBlocks.clear();
    };
    w.on('error', died);
    w.on('exit', (code) => died(new Error(`the sha256 worker thread stopped (exit code ${code}) before answering`)));
    w.unref();
    worker = w;
  }
  return worker;
}

/** Why the worker a job was opened on died: its jobs are gone, a new worker does not know them. */
interface WorkerLife {
  death?: Error;
}
let life: WorkerLife = {};

/** @internal for tests: the hash worker, if one runs (to stop it mid-run). */
export function hashThread(): Worker | undefined {
  return worker;
}

function begin(): number {
  const id = nextId++;
  shared().postMessage({ op: 'open', id } satisfies ToHasher);
  return id;
}

function digestOf(id: number): Promise<string> {
  const w = shared();
  return new Promise<string>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    updateRef();
    w.postMessage({ op: 'digest', id } satisfies ToHasher);
  });
}

/** One hash in the worker: the digest of what was given, or dropped. */
abstract class HashJob {
  protected readonly id = begin();
  /** The worker's life this job was opened in (set by begin()). */
  private readonly life = life;
  private finished = false;

  /** The sha256 (hex) of everything given so far. */
  digest(): Promise<string> {
    this.finished = true;
    if (this.life.death) return Promise.reject(this.life.death);
    return digestOf(this.id);
  }

  drop(): void {
    if (this.finished) return;
    this.finished = true;
    shared().postMessage({ op: 'drop', id: this.id } satisfies ToHasher);
  }
}

/** Blocks the current worker already holds (a new worker after a crash is sent them again). */
const sentBlocks = new Set<number>();
onSharedBlockCollected((id) => {
  if (sentBlocks.delete(id)) worker?.postMessage({ op: 'forget', block: id } satisfies ToHasher);
});

/** `length` bytes of a block from `start`, to be hashed. */
export interface BlockSpan {
  block: SharedBlock;
  start: number;
  length: number;
}

/**
 * Hashes block spans in the order given. The caller must not change a span's bytes until the worker
 * is done with it: `onReturned(n)` says the next n spans (in order) are. `onFailed` reports a dead
 * worker (its spans never come back).
 */
export class BlockHasher extends HashJob {
  private out = 0;
  constructor(
    private readonly onReturned: (spans: number) => void,
    private readonly onFailed: (err: Error) => void,
  ) {
    super();
  }

  update(spans: BlockSpan[]): void {
    if (spans.length === 0) return;
    const w = shared();
    const message: (number | SharedArrayBuffer)[] = [];
    for (const { block, start, length } of spans) {
      const first = !sentBlocks.has(block.id);
      if (first) sentBlocks.add(block.id);
      message.push(block.id, start, length, first ? (block.bytes.buffer as SharedArrayBuffer) : 0);
    }
    this.out += spans.length;
    blockOwners.set(this.id, this);
    updateRef();
    w.postMessage({ op: 'blocks', id: this.id, spans: message } satisfies ToHasher);
  }

  /** @internal the worker hashed the next `spans` spans. */
  returned(spans: number): void {
    this.out -= spans;
    if (this.out === 0) {
      blockOwners.delete(this.id);
      updateRef();
    }
    this.onReturned(spans);
  }

  /** @internal the worker died. */
  failed(err: Error): void {
    this.out = 0;
    this.onFailed(err);
  }
}

/** Hashes chunks handed to it (each is copied once; the caller keeps its own). */
export class ChunkHasher extends HashJob {
  update(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const copy = chunk.slice();
    shared().postMessage({ op: 'chunk', id: this.id, buffer: copy.buffer } satisfies ToHasher, [copy.buffer]);
  }
}
