import { randomBytes } from 'node:crypto';
import { close, fsync, open, write } from 'node:fs';
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

/** fs.write until the whole chunk is at `position` (callback API: cheaper than FileHandle per call). */
function writeAll(fd: number, chunk: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const step = (): void => {
      write(fd, chunk, off, chunk.length - off, position + off, (err, n) => {
        if (err) return reject(err);
        off += n;
        if (off < chunk.length) step();
        else resolve();
      });
    };
    step();
  });
}

class LocalOutputFile implements OutputFile {
  private readonly hasher: FileHasher;
  /** Bytes accepted (the next write's file offset). */
  private size = 0;
  /** Bytes written to the file so far (a prefix: writes complete in order). */
  private written = 0;
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown;
  private done = false;
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
    const position = this.size;
    this.size += chunk.length;
    const end = this.size;
    // Chained: one write at a time, in order, so `written` is always a prefix of the file.
    this.tail = this.tail.then(async () => {
      if (this.failure) return;
      try {
        await writeAll(this.fd, chunk, position);
        this.written = end;
        this.hasher.upTo(end);
      } catch (err) {
        this.failure = err;
      }
    });
    if (this.size - this.written > WRITE_BEHIND_BYTES) await this.tail;
    if (this.failure) throw this.failure;
  }

  async commit(): Promise<{ bytes: number; sha256: string }> {
    await this.tail;
    if (this.failure) throw this.failure;
    const sha256 = this.hasher.digest();
    sha256.catch(() => {});
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
    await this.tail;
    this.hasher.drop();
    await new Promise<void>((resolve) => close(this.fd, () => resolve()));
    await rm(this.tmp, { force: true });
  }
}
