import { randomBytes } from 'node:crypto';
import { close, fdatasync, fsync, open, writev } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { FileHasher } from './hasher.ts';
import type { OutputFile, Sink } from './types.ts';

/**
 * Bytes a file may have accepted but not yet written. `write()` resolves as soon as a chunk is
 * queued while less than this is in flight, so encoding the next chunk overlaps the disk write;
 * beyond it, it waits (memory stays bounded). An error surfaces on the next write or on commit.
 */
const WRITE_BEHIND_BYTES = 16 << 20;

/** A local directory. Files are written as `.<name>.tmp-<rand>` beside the target, fsynced, renamed. */
export class LocalSink implements Sink {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  describe(p: string): string {
    return path.join(this.root, p);
  }

  async create(p: string): Promise<OutputFile> {
    const final = path.join(this.root, p);
    await mkdir(path.dirname(final), { recursive: true });
    // The temp name never appears in outputs; the random suffix only avoids clashes between runs.
    const tmp = path.join(path.dirname(final), `.${path.basename(final)}.tmp-${randomBytes(4).toString('hex')}`);
    const fd = await new Promise<number>((resolve, reject) => open(tmp, 'w', (err, fd) => (err ? reject(err) : resolve(fd))));
    return new LocalOutputFile(p, final, tmp, fd);
  }

  async writeFile(p: string, bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
    const f = await this.create(p);
    try {
      await f.write(bytes);
      return await f.commit();
    } catch (err) {
      await f.abort();
      throw err;
    }
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
  private readonly hasher: FileHasher;
  /** Bytes accepted (the next chunk's file offset). */
  private size = 0;
  /** Bytes written to the file so far (always a prefix: one writev at a time, in order). */
  private written = 0;
  /** Accepted chunks not yet handed to writev. */
  private queue: Uint8Array[] = [];
  private pumping: Promise<void> | undefined;
  /** Wakes a write() waiting for the in-flight bytes to fall under the limit. */
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
    this.hasher = new FileHasher(tmp);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    this.queue.push(chunk);
    this.size += chunk.length;
    this.pumping ??= this.pump();
    while (this.size - this.written > WRITE_BEHIND_BYTES && this.busy() && !this.failure) {
      await new Promise<void>((resolve) => (this.progressed = resolve));
    }
    if (this.failure) throw this.failure;
  }

  /** Writes queued chunks (all that are waiting, in one writev) until the queue is empty. */
  private async pump(): Promise<void> {
    try {
      while (this.queue.length && !this.failure) {
        let batch = this.queue.splice(0, MAX_IOV);
        let bytes = 0;
        for (const c of batch) bytes += c.length;
        while (bytes > 0) {
          const n = await writevAt(this.fd, batch, this.written);
          this.written += n;
          bytes -= n;
          if (bytes > 0) batch = dropFront(batch, n);
        }
        this.hasher.upTo(this.written);
        if (this.written >= this.nextSync && !this.syncing) this.backgroundSync();
        this.wake();
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
    this.syncing = new Promise<void>((resolve) => fdatasync(this.fd, (err) => {
      if (err) this.failure ??= err;
      resolve();
    })).then(() => {
      this.syncing = undefined;
    });
  }

  private busy(): boolean {
    return this.pumping !== undefined;
  }

  private wake(): void {
    const f = this.progressed;
    this.progressed = undefined;
    f?.();
  }

  async commit(): Promise<{ bytes: number; sha256: string }> {
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
    this.queue = [];
    while (this.pumping) await this.pumping;
    while (this.syncing) await this.syncing; // never close the fd under a running fdatasync
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
