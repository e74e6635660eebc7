import { createHash, randomBytes } from 'node:crypto';
import { close, fdatasync, fsync, open, writev } from 'node:fs';
import { open as openFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { mkdirs } from '../mkdirs.ts';
import { BlockHasher } from './hasher.ts';
import type { BlockSpan } from './hasher.ts';
import { BlockPool, checkLive, debugBuffersOn, retainShared } from '../buffers/index.ts';
import type { SharedBlock } from '../buffers/index.ts';
import { writeThrough } from './types.ts';
import type { OutputFile, Sink } from './types.ts';

/**
 * Write-behind: write() copies the chunk into the file's current block and resolves (the caller may
 * reuse its buffer at once); filled spans of blocks are written in order by writev, then hashed by
 * the hash worker, while the caller encodes the next bytes. A large chunk that lies in a shared
 * block (src/buffers: a frame slot, a Parquet group's media) is not copied: the span is queued as it
 * is and the sink holds a reference to its block until written and hashed. At most IN_FLIGHT_BYTES
 * per file are queued or being hashed (memory stays bounded); beyond that write() waits. An error
 * surfaces on the next write or on commit.
 *
 * Why copy small and ordinary chunks: a sink that kept the callers' buffers (frames, pages) until
 * written made them live long enough to reach V8's old generation, where only full GCs free them.
 * The sink's own blocks are shared memory too (the worker hashes them in place) and come from and
 * return to one process-wide free list, so steady state allocates nothing.
 */
const BLOCK_BYTES = 1 << 20;
const IN_FLIGHT_BYTES = 24 * BLOCK_BYTES;
/** Shared chunks at least this long are written by reference; shorter ones are cheaper to copy. */
const BY_REFERENCE_BYTES = 64 << 10;
const freeBlocks = new BlockPool(BLOCK_BYTES);
/** Files up to this size are written whole by writeFile, without the write-behind and the hash worker. */
const SMALL_FILE_BYTES = 1 << 20;

/** A local directory. Files are written as `.<name>.tmp-<rand>` beside the target, fsynced, renamed. */
export class LocalSink implements Sink {
  readonly root: string;
  /** Folders made so far: one mkdir per folder, not per file (a JSONL output writes a file per frame). */
  private readonly made = new Set<string>();
  constructor(root: string) {
    this.root = root;
  }

  describe(p: string): string {
    return path.join(this.root, p);
  }

  async create(p: string): Promise<OutputFile> {
    const { final, tmp } = await this.place(p);
    const fd = await new Promise<number>((resolve, reject) => open(tmp, 'w', (err, fd) => (err ? reject(err) : resolve(fd))));
    return new LocalOutputFile(p, final, tmp, fd);
  }

  /** The file's final name, its folder made, and the temp name it is written under. */
  private async place(p: string): Promise<{ final: string; tmp: string }> {
    const final = path.join(this.root, p);
    const dir = path.dirname(final);
    if (!this.made.has(dir)) {
      await mkdirs(dir);
      this.made.add(dir);
    }
    // The temp name never appears in outputs; the random suffix only avoids clashes between runs.
    return { final, tmp: path.join(dir, `.${path.basename(final)}.tmp-${randomBytes(4).toString('hex')}`) };
  }

  async writeFile(p: string, bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
    if (bytes.length > SMALL_FILE_BYTES) return writeThrough(this, p, bytes);
    // A small file (a plan, a record, a card) is hashed here: starting the hash worker for it
    // (a thread and its module) took longer than hashing it, in a process that writes nothing else.
    const { final, tmp } = await this.place(p);
    const f = await openFile(tmp, 'w');
    try {
      await f.writeFile(bytes);
      await f.sync();
      await f.close();
    } catch (err) {
      await f.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    await rename(tmp, final);
    return { bytes: bytes.length, sha256 };
  }
}

/**
 * While a file grows, an fdatasync is started in the background every this many bytes (never
 * awaited by writes), so the disk writes along and the fsync at commit has little left to wait for.
 */
const BACKGROUND_SYNC_BYTES = 64 << 20;

/** Most buffers per writev call (Linux IOV_MAX is 1024). */
const MAX_IOV = 256;

/** fs.writev of `chunks` at `position`; returns the bytes written (may be fewer than asked). */
function writevAt(fd: number, chunks: Uint8Array[], position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    writev(fd, chunks as NodeJS.ArrayBufferView[], position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

class LocalOutputFile implements OutputFile {
  private readonly hasher: BlockHasher;
  /** Bytes accepted (the next chunk's file offset). */
  private size = 0;
  /** Bytes written to the file so far (always a prefix: one writev at a time, in order). */
  private written = 0;
  /** The own block being filled, how much of it is, and where its next span starts. */
  private block: SharedBlock | undefined;
  private filled = 0;
  private spanStart = 0;
  /** Own blocks taken from the free list and not yet given back. */
  private readonly owned = new Set<SharedBlock>();
  /** Spans not yet handed to writev, then spans the hash worker has not given back (in order). */
  private queue: BlockSpan[] = [];
  private hashing: BlockSpan[] = [];
  private hashingHead = 0;
  /** Bytes in `queue` and `hashing`. */
  private inFlight = 0;
  private pumping: Promise<void> | undefined;
  /** Wakes a write() waiting for room. */
  private progressed: (() => void) | undefined;
  private failure: unknown;
  private done = false;
  /** The background fdatasync in progress, and where the next one is due. */
  private syncing: Promise<void> | undefined;
  private nextSync = BACKGROUND_SYNC_BYTES;
  constructor(
    readonly path: string,
    private readonly final: string,
    private readonly tmp: string,
    private readonly fd: number,
  ) {
    this.hasher = new BlockHasher(
      (spans) => {
        for (let i = 0; i < spans; i++) this.hashed(this.hashing[this.hashingHead++]!);
        if (this.hashingHead === this.hashing.length) {
          this.hashing = [];
          this.hashingHead = 0;
        }
        this.wake();
      },
      (err) => {
        this.failure ??= err;
        // The dead worker's spans never come back: release them, or their owners would wait forever.
        while (this.hashingHead < this.hashing.length) this.hashed(this.hashing[this.hashingHead++]!);
        this.wake();
      },
    );
  }

  /** One write at a time: await each call before the next. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (debugBuffersOn()) checkLive(chunk);
    const shared = chunk.length >= BY_REFERENCE_BYTES ? retainShared(chunk) : undefined;
    if (shared) {
      try {
        await this.room();
      } catch (err) {
        shared.release();
        throw err;
      }
      this.cutSpan();
      this.enqueue({ block: shared, start: chunk.byteOffset, length: chunk.length });
      this.size += chunk.length;
      return;
    }
    let off = 0;
    while (off < chunk.length) {
      if (!this.block) {
        await this.room();
        this.block = freeBlocks.take();
        this.owned.add(this.block);
        this.filled = 0;
        this.spanStart = 0;
      }
      const take = Math.min(BLOCK_BYTES - this.filled, chunk.length - off);
      this.block.bytes.set(chunk.subarray(off, off + take), this.filled);
      this.filled += take;
      off += take;
      if (this.filled === BLOCK_BYTES) this.retireBlock();
    }
    this.size += chunk.length;
  }

  private async room(): Promise<void> {
    while (this.inFlight >= IN_FLIGHT_BYTES && !this.failure) {
      await new Promise<void>((resolve) => (this.progressed = resolve));
    }
    if (this.failure) throw this.failure;
  }

  /** Queue what the current block holds since its last span (it stays current). */
  private cutSpan(): void {
    if (!this.block || this.filled === this.spanStart) return;
    this.block.retain();
    this.enqueue({ block: this.block, start: this.spanStart, length: this.filled - this.spanStart });
    this.spanStart = this.filled;
  }

  /** Queue the rest of the current block and stop filling it (full, or the file ends). */
  private retireBlock(): void {
    const block = this.block;
    if (!block) return;
    this.cutSpan();
    this.block = undefined;
    this.release(block);
  }

  /** Queue a span whose block the sink already holds a reference to. */
  private enqueue(span: BlockSpan): void {
    this.queue.push(span);
    this.inFlight += span.length;
    this.pumping ??= this.pump();
  }

  /** A span is written and hashed (or will never be): its block may be reused. */
  private hashed(span: BlockSpan): void {
    this.inFlight -= span.length;
    span.block.release();
    this.release(span.block);
  }

  /** An own block neither filled nor held goes back to the free list. */
  private release(block: SharedBlock): void {
    if (block !== this.block && block.references === 0 && this.owned.delete(block)) freeBlocks.give(block);
  }

  /** Writes queued spans (all that are waiting, in one writev) until the queue is empty; then hashes them. */
  private async pump(): Promise<void> {
    try {
      while (this.queue.length && !this.failure) {
        const batch = this.queue.splice(0, MAX_IOV);
        let pending = batch.map((s) => s.block.bytes.subarray(s.start, s.start + s.length));
        let bytes = 0;
        for (const s of batch) bytes += s.length;
        while (bytes > 0) {
          const n = await writevAt(this.fd, pending, this.written);
          this.written += n;
          bytes -= n;
          if (bytes > 0) pending = dropFront(pending, n);
        }
        this.hashing.push(...batch);
        this.hasher.update(batch);
        if (this.written >= this.nextSync && !this.syncing) this.backgroundSync();
      }
    } catch (err) {
      this.failure = err;
    } finally {
      this.pumping = undefined;
      this.wake();
    }
  }

  private backgroundSync(): void {
    this.nextSync = this.written + BACKGROUND_SYNC_BYTES;
    // A write-back error is reported to one fsync caller only: keep it for the next write/commit.
    this.syncing = new Promise<void>((resolve) =>
      fdatasync(this.fd, (err) => {
        if (err) this.failure ??= err;
        resolve();
      }),
    ).then(() => {
      this.syncing = undefined;
    });
  }

  private wake(): void {
    const f = this.progressed;
    this.progressed = undefined;
    f?.();
  }

  async commit(): Promise<{ bytes: number; sha256: string }> {
    this.retireBlock();
    while (this.pumping) await this.pumping;
    if (this.failure) throw this.failure;
    const sha256 = this.hasher.digest();
    sha256.catch(() => {});
    while (this.syncing) await this.syncing;
    if (this.failure) throw this.failure;
    await new Promise<void>((resolve, reject) => fsync(this.fd, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => close(this.fd, (err) => (err ? reject(err) : resolve())));
    this.done = true;
    const hex = await sha256;
    await rename(this.tmp, this.final);
    return { bytes: this.size, sha256: hex };
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.failure ??= new Error('aborted');
    while (this.pumping) await this.pumping;
    const unwritten = this.queue;
    this.queue = [];
    for (const span of unwritten) this.hashed(span); // never written, never hashed
    const current = this.block;
    this.block = undefined;
    if (current) this.release(current);
    while (this.syncing) await this.syncing; // never close the fd under a running fdatasync
    // Spans the worker is hashing come back (it answers every message, even for a dropped
    // file): wait for them, so an aborted file holds no block pinned once abort() resolves.
    while (this.hashingHead < this.hashing.length) await new Promise<void>((resolve) => (this.progressed = resolve));
    this.hasher.drop();
    await new Promise<void>((resolve) => close(this.fd, () => resolve()));
    await rm(this.tmp, { force: true });
  }
}

/** The buffers left after the first `n` bytes of `chunks` were written. */
function dropFront(chunks: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (n >= chunks[i]!.length) n -= chunks[i++]!.length;
  const rest = chunks.slice(i);
  rest[0] = rest[0]!.subarray(n);
  return rest;
}
