import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../errors.ts';
import type { ByteRange, Source, SourceEntry } from './types.ts';

/** A local directory. Paths are POSIX-relative to the root; nothing outside the root is reachable. */
export class LocalSource implements Source {
  readonly root: string;
  private readonly abs: string;

  constructor(root: string) {
    this.root = root;
    this.abs = path.resolve(root);
  }

  describe(p: string): string {
    return path.join(this.root, p);
  }

  private resolve(p: string): string {
    const full = path.resolve(this.abs, p);
    const rel = path.relative(this.abs, full);
    // A path that climbs out of the root (a hostile manifest or image_url) is refused.
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      throw new InputError(`path escapes the export root ${this.root}`, { file: p });
    }
    return full;
  }

  async list(): Promise<SourceEntry[]> {
    const out: SourceEntry[] = [];
    const walk = async (dir: string, prefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        throw notFound(err, this.root);
      }
      for (const e of entries) {
        const rel = prefix ? `${prefix}/${e.name}` : e.name;
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full, rel);
        else if (e.isFile() || e.isSymbolicLink()) {
          const st = await stat(full).catch(() => undefined);
          if (st?.isFile()) out.push({ path: rel, size: st.size });
        }
      }
    };
    await walk(this.abs, '');
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return out;
  }

  async exists(p: string): Promise<boolean> {
    try {
      return (await stat(this.resolve(p))).isFile();
    } catch (err) {
      if (err instanceof InputError) throw err;
      return false;
    }
  }

  async size(p: string): Promise<number> {
    try {
      return (await stat(this.resolve(p))).size;
    } catch (err) {
      throw notFound(err, this.describe(p));
    }
  }

  async read(p: string, range?: ByteRange): Promise<Uint8Array> {
    let fh;
    try {
      fh = await open(this.resolve(p), 'r');
    } catch (err) {
      throw notFound(err, this.describe(p));
    }
    try {
      const size = (await fh.stat()).size;
      const start = Math.max(0, Math.min(range?.start ?? 0, size));
      const end = Math.max(start, Math.min(range?.end ?? size, size));
      const buf = new Uint8Array(end - start);
      let off = 0;
      while (off < buf.length) {
        const { bytesRead } = await fh.read(buf, off, buf.length - off, start + off);
        if (bytesRead === 0) break;
        off += bytesRead;
      }
      return off === buf.length ? buf : buf.subarray(0, off);
    } finally {
      await fh.close();
    }
  }

  async *stream(p: string): AsyncIterable<Uint8Array> {
    const full = this.resolve(p);
    try {
      await stat(full);
    } catch (err) {
      throw notFound(err, this.describe(p));
    }
    for await (const chunk of createReadStream(full, { highWaterMark: 1 << 20 })) {
      const b = chunk as Buffer;
      yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
  }
}

function notFound(err: unknown, where: string): Error {
  if (err instanceof InputError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new InputError('no such file or directory', { file: where });
  if (code === 'EACCES' || code === 'EPERM') return new InputError('permission denied', { file: where });
  if (code === 'EISDIR') return new InputError('is a directory, expected a file', { file: where });
  return err as Error;
}
