/**
 * A deterministic ustar writer onto an OutputFile.
 *
 * Not tar-stream, because for our rules it does too much: it silently switches to a PAX record for
 * non-ASCII or long names (we want an error: wids reads only the 100-byte name field), it takes the
 * mtime as a Date, and it is a pull stream that would need piping into the Sink's push-style writes.
 * A ustar header is 512 bytes with a handful of octal fields, so we write it here directly.
 */
import type { OutputFile } from '../sink/types.ts';

const BLOCK = 512;
/** Small members and headers are gathered and written in chunks of this size (fewer awaits). */
const COALESCE_BYTES = 1 << 20;
/** Members at least this long are handed to the sink as they are instead of being copied. */
const PASS_THROUGH_BYTES = 64 << 10;
/** The ustar size field holds 11 octal digits. */
const MAX_MEMBER_BYTES = 8 ** 11 - 1;
const MAX_MTIME = 8 ** 11 - 1;

export class TarNameError extends Error {}

/** Why `name` cannot be a member name of our tars, or null. */
export function tarNameProblem(name: string): string | null {
  if (name.length === 0) return 'empty member name';
  if (!/^[\x21-\x7e]+$/.test(name)) return `member name ${JSON.stringify(name)} must be printable ASCII without spaces`;
  if (name.length >= 100) return `member name ${name} is ${name.length} bytes; it must be under 100 (the ustar name field)`;
  if (name.startsWith('/') || name.endsWith('/') || name.split('/').includes('..')) {
    return `member name ${name} must be a relative file path`;
  }
  return null;
}

function octal(buf: Uint8Array, offset: number, width: number, value: number): void {
  // width-1 zero-padded octal digits, then NUL (the POSIX form, as GNU tar and Python write it).
  const s = value.toString(8).padStart(width - 1, '0');
  for (let i = 0; i < s.length; i++) buf[offset + i] = s.charCodeAt(i);
  buf[offset + width - 1] = 0;
}

function ascii(buf: Uint8Array, offset: number, s: string): void {
  for (let i = 0; i < s.length; i++) buf[offset + i] = s.charCodeAt(i);
}

/** One ustar header for a regular file: mode 0644, uid/gid 0, empty uname/gname, given mtime. */
export function ustarHeader(name: string, size: number, mtime: number): Uint8Array {
  const problem = tarNameProblem(name);
  if (problem) throw new TarNameError(problem);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_MEMBER_BYTES) {
    throw new RangeError(`member ${name}: size ${size} does not fit a ustar header`);
  }
  const h = new Uint8Array(BLOCK);
  ascii(h, 0, name);
  octal(h, 100, 8, 0o644); // mode
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h[156] = 0x30; // typeflag '0': regular file
  ascii(h, 257, 'ustar\u000000'); // magic "ustar\0" + version "00" (POSIX, not GNU "ustar  ")
  // uname, gname, devmajor, devminor, prefix stay NUL (not a device; as Python's tarfile writes).
  // Checksum: sum of all bytes with the checksum field read as spaces; 6 octal digits, NUL, space.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  octal(h, 148, 7, sum);
  h[155] = 0x20;
  return h;
}

/**
 * Writes members one at a time to `out` (await each `add`: bounded memory). Headers, padding and
 * small members are copied into a 1 MiB chunk and handed to `out` in pieces; members of 64 KiB or
 * more (frames) go to `out` as they are, never copied. `out` may hold what it was given after a
 * write resolves (OutputFile contract), so neither the caller's member bytes nor a handed-over
 * part of the chunk are modified afterwards. `finish()` writes the two zero end blocks; committing
 * `out` stays with the caller.
 */
export class TarWriter {
  private chunk = new Uint8Array(COALESCE_BYTES);
  /** chunk[start, pos) is gathered but not yet handed to `out`. */
  private start = 0;
  private pos = 0;
  private written = 0;
  private readonly mtime: number;

  constructor(private readonly out: OutputFile, mtime: number) {
    if (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) {
      throw new RangeError(`tar mtime must be an integer number of seconds in [0, ${MAX_MTIME}], got ${mtime}`);
    }
    this.mtime = mtime;
  }

  /** Bytes of the archive so far (headers, data, padding). */
  get bytes(): number {
    return this.written + this.pos - this.start;
  }

  async add(name: string, data: Uint8Array): Promise<void> {
    await this.put(ustarHeader(name, data.length, this.mtime));
    if (data.length >= PASS_THROUGH_BYTES) {
      await this.flush();
      await this.out.write(data);
      this.written += data.length;
    } else {
      await this.put(data);
    }
    await this.skip((BLOCK - (data.length % BLOCK)) % BLOCK);
  }

  async finish(): Promise<void> {
    await this.skip(2 * BLOCK);
    await this.flush();
  }

  private async put(b: Uint8Array): Promise<void> {
    if (this.pos + b.length > COALESCE_BYTES) await this.renew();
    this.chunk.set(b, this.pos);
    this.pos += b.length;
  }

  /** Zero bytes: the chunk is fresh (zero-filled), so advancing is enough. */
  private async skip(n: number): Promise<void> {
    if (this.pos + n > COALESCE_BYTES) await this.renew();
    this.pos += n;
  }

  /** Hand the gathered bytes to `out`; later bytes go after them in the same chunk. */
  private async flush(): Promise<void> {
    if (this.pos === this.start) return;
    const part = this.chunk.subarray(this.start, this.pos);
    this.written += part.length;
    this.start = this.pos;
    await this.out.write(part);
  }

  /** Flush, then continue in a fresh zeroed chunk (the sink may still hold parts of the old one). */
  private async renew(): Promise<void> {
    await this.flush();
    this.chunk = new Uint8Array(COALESCE_BYTES);
    this.start = 0;
    this.pos = 0;
  }
}
