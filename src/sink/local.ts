import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { OutputFile, Sink } from './types.ts';

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
    const fh = await open(tmp, 'w');
    return new LocalOutputFile(p, final, tmp, fh);
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

class LocalOutputFile implements OutputFile {
  private hash = createHash('sha256');
  private size = 0;
  private done = false;
  constructor(
    readonly path: string,
    private readonly final: string,
    private readonly tmp: string,
    private readonly fh: FileHandle,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await this.fh.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  async commit(): Promise<{ bytes: number; sha256: string }> {
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.final);
    this.done = true;
    return { bytes: this.size, sha256: this.hash.digest('hex') };
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}
