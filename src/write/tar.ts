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
const ZEROS = new Uint8Array(2 * BLOCK);
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

/** The fixed fields of our headers for one mtime, and the byte sum they add to the checksum. */
interface HeaderTemplate {
  mtime: number;
  bytes: Uint8Array;
  sum: number;
}
let lastTemplate: HeaderTemplate | undefined;

function headerTemplate(mtime: number): HeaderTemplate {
  if (lastTemplate?.mtime === mtime) return lastTemplate;
  const h = new Uint8Array(BLOCK);
  octal(h, 100, 8, 0o644); // mode
  octal(h, 108, 8, 0); // uid
  octal(h, 116, 8, 0); // gid
  octal(h, 136, 12, mtime);
  h[156] = 0x30; // typeflag '0': regular file
  ascii(h, 257, 'ustar\u000000'); // magic "ustar\0" + version "00" (POSIX, not GNU "ustar  ")
  // uname, gname, devmajor, devminor, prefix stay NUL (not a device; as Python's tarfile writes).
  h.fill(0x20, 148, 156); // the checksum field counts as spaces
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  lastTemplate = { mtime, bytes: h, sum };
  return lastTemplate;
}

/**
 * One ustar header for a regular file: mode 0644, uid/gid 0, empty uname/gname, given mtime.
 * Written into `into` (512 bytes, overwritten) when given, else into a new array. The fixed fields
 * come from a template; only the name and size are added (and their bytes to the checksum).
 */
export function ustarHeader(name: string, size: number, mtime: number, into?: Uint8Array): Uint8Array {
  const problem = tarNameProblem(name);
  if (problem) throw new TarNameError(problem);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_MEMBER_BYTES) {
    throw new RangeError(`member ${name}: size ${size} does not fit a ustar header`);
  }
  const t = headerTemplate(mtime);
  const h = into ?? new Uint8Array(BLOCK);
  h.set(t.bytes);
  let sum = t.sum;
  for (let i = 0; i < name.length; i++) sum += h[i] = name.charCodeAt(i);
  octal(h, 124, 12, size);
  for (let i = 124; i < 135; i++) sum += h[i]!;
  // Checksum: 6 octal digits, NUL, space.
  octal(h, 148, 7, sum);
  h[155] = 0x20;
  return h;
}

/**
 * Writes members one at a time to `out` (await each `add`: bounded memory): header, data, zero
 * padding to the next 512 bytes. The sink copies what it keeps, so the header buffer is reused.
 * `finish()` writes the two zero end blocks; committing `out` stays with the caller.
 */
export class TarWriter {
  private readonly header = new Uint8Array(BLOCK);
  private written = 0;
  private readonly mtime: number;

  constructor(
    private readonly out: OutputFile,
    mtime: number,
  ) {
    if (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) {
      throw new RangeError(`tar mtime must be an integer number of seconds in [0, ${MAX_MTIME}], got ${mtime}`);
    }
    this.mtime = mtime;
  }

  /** Bytes of the archive so far (headers, data, padding). */
  get bytes(): number {
    return this.written;
  }

  async add(name: string, data: Uint8Array): Promise<void> {
    await this.put(ustarHeader(name, data.length, this.mtime, this.header));
    await this.put(data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) await this.put(ZEROS.subarray(0, pad));
  }

  async finish(): Promise<void> {
    await this.put(ZEROS);
  }

  private async put(b: Uint8Array): Promise<void> {
    this.written += b.length;
    await this.out.write(b);
  }
}
