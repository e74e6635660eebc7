/**
 * A streaming tar reader that shows what libraries hide: raw header checksums, type flags, size
 * claims checked against the bytes that remain, names with NUL/`..`, end-of-archive blocks and
 * what follows them. Member data is copied out only when asked for and only up to a cap, so a
 * member claiming 1 TB costs nothing.
 */
import type { CheckId } from './checks.ts';

const BLOCK = 512;

export interface TarMember {
  kind: 'member';
  name: string;
  /** Offset of the member's header in the archive. */
  offset: number;
  size: number;
  /** The data, when `want` asked for it and it fits the cap. */
  data?: Uint8Array;
  /** Asked for, but larger than the cap. */
  tooLarge?: boolean;
  /** The name was reported unsafe (the member is not a sample member). */
  unsafe?: boolean;
}

export interface TarProblem {
  kind: 'problem';
  id: CheckId;
  member?: string;
  message: string;
}

export type TarEvent = TarMember | TarProblem;

export interface TarScanOptions {
  /** Total archive size (from the source), so size claims can be checked before reading. */
  totalSize: number;
  /** Whether to copy out this member's data. */
  want(name: string, size: number): boolean;
  /** Largest member data copied out. */
  maxData: number;
  /** Sees every chunk as it passes (hashing). */
  onChunk?(chunk: Uint8Array): void;
  /** Member data may share the read chunk's memory (no copy): only when it is not transferred to a worker. */
  shareData?: boolean;
}

/** Pulls exact byte counts out of a chunk stream, copying only what is read. */
class ByteReader {
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;
  constructor(
    src: AsyncIterable<Uint8Array>,
    private readonly onChunk?: (c: Uint8Array) => void,
  ) {
    this.it = src[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const n = await this.it.next();
    if (n.done) {
      this.done = true;
      return false;
    }
    this.onChunk?.(n.value);
    this.buf = n.value;
    this.pos = 0;
    return true;
  }

  /** Exactly n bytes, or fewer at the end of the stream. The result may share the chunk's memory. */
  async read(n: number): Promise<Uint8Array> {
    if (this.buf.length - this.pos >= n) {
      const out = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      if (this.pos >= this.buf.length && !(await this.fill())) return out.subarray(0, got);
      const take = Math.min(n - got, this.buf.length - this.pos);
      out.set(this.buf.subarray(this.pos, this.pos + take), got);
      this.pos += take;
      got += take;
    }
    return out;
  }

  /** Like read, but always a fresh buffer (safe to transfer to a worker). */
  async readCopy(n: number): Promise<Uint8Array> {
    const r = await this.read(n);
    return r.buffer === this.buf.buffer ? r.slice() : r;
  }

  /** Skip n bytes; returns how many were skipped (fewer at the end). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.pos >= this.buf.length && !(await this.fill())) break;
      const take = Math.min(left, this.buf.length - this.pos);
      this.pos += take;
      left -= take;
    }
    return n - left;
  }

  /** Reads to the end; the offset (relative to now) of the first non-zero byte, or -1. */
  async firstNonZero(): Promise<number> {
    let at = 0;
    for (;;) {
      if (this.pos >= this.buf.length && !(await this.fill())) return -1;
      const rest = this.buf.subarray(this.pos);
      for (let i = 0; i < rest.length; i++) {
        if (rest[i] !== 0) {
          // Drain the rest so the caller's hash sees every byte.
          this.pos = this.buf.length;
          while (await this.fill()) this.pos = this.buf.length;
          return at + i;
        }
      }
      at += rest.length;
      this.pos = this.buf.length;
    }
  }
}

function cstring(h: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && h[end] !== 0) end++;
  return Buffer.from(h.buffer, h.byteOffset + start, end - start).toString('utf8');
}

/** A numeric header field: octal text, or base-256 when the high bit of the first byte is set. */
function numeric(h: Uint8Array, start: number, len: number): number {
  if (h[start]! & 0x80) {
    let v = h[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + h[i]!;
    return v;
  }
  const s = cstring(h, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return Number.NaN;
  return parseInt(s, 8);
}

function checksumOk(h: Uint8Array): boolean {
  const stored = numeric(h, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '5': 'directory',
  '6': 'FIFO',
};

/** Why a member name is unsafe to extract, or null. */
export function unsafeName(name: string, rawField: Uint8Array): string | null {
  const nul = rawField.indexOf(0);
  if (nul >= 0 && rawField.subarray(nul).some((b) => b !== 0)) return 'contains a NUL byte';
  if (name.startsWith('/')) return 'is an absolute path';
  if (name.includes('\\')) return 'contains a backslash';
  if (name.split('/').includes('..')) return 'climbs out with ".."';
  return null;
}

function paxPath(data: Uint8Array): string | undefined {
  const text = Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8');
  let i = 0;
  let path: string | undefined;
  while (i < text.length) {
    const sp = text.indexOf(' ', i);
    if (sp < 0) break;
    const len = parseInt(text.slice(i, sp), 10);
    if (!(len > 0)) break;
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    i += len;
  }
  return path;
}

const MAX_META = 1 << 20;

export async function* scanTar(src: AsyncIterable<Uint8Array>, opts: TarScanOptions): AsyncGenerator<TarEvent> {
  const r = new ByteReader(src, opts.onChunk);
  let offset = 0;
  let longName: string | undefined;
  let last = '(start of archive)';
  for (;;) {
    const h = await r.read(BLOCK);
    if (h.length === 0) {
      yield {
        kind: 'problem',
        id: 'wds.truncated',
        member: last,
        message: `the archive ends after ${offset} bytes without end-of-archive blocks (unclosed writer?)`,
      };
      return;
    }
    if (h.length < BLOCK) {
      yield { kind: 'problem', id: 'wds.truncated', member: last, message: `the archive ends inside a header at byte ${offset}` };
      return;
    }
    if (h.every((b) => b === 0)) {
      await r.skip(BLOCK);
      const at = await r.firstNonZero();
      if (at >= 0) {
        yield {
          kind: 'problem',
          id: 'wds.trailing_garbage',
          member: last,
          message: `non-zero bytes at offset ${offset + 2 * BLOCK + at}, after the end-of-archive blocks`,
        };
      }
      return;
    }
    if (!checksumOk(h)) {
      yield {
        kind: 'problem',
        id: 'wds.bad_checksum',
        member: last,
        message: `the header at byte ${offset} (after member ${last}) has a bad checksum; the rest of the shard cannot be trusted`,
      };
      await r.skip(Number.MAX_SAFE_INTEGER);
      return;
    }
    const rawName = h.subarray(0, 100);
    const prefix = h[345] !== 0 && cstring(h, 257, 6) === 'ustar' ? cstring(h, 345, 155) : '';
    let name = longName ?? (prefix ? `${prefix}/${cstring(h, 0, 100)}` : cstring(h, 0, 100));
    const fromMeta = longName !== undefined;
    longName = undefined;
    const type = String.fromCharCode(h[156]!);
    const size = numeric(h, 124, 12);
    const dataStart = offset + BLOCK;
    const remaining = opts.totalSize - dataStart;
    if (!Number.isSafeInteger(size) || size < 0) {
      yield { kind: 'problem', id: 'wds.bad_checksum', member: name, message: `the size field is not a number` };
      return;
    }
    if (size > remaining) {
      yield {
        kind: 'problem',
        id: 'wds.truncated',
        member: name,
        message: `member claims ${size} bytes but only ${Math.max(0, remaining)} remain in the archive`,
      };
      await r.skip(Number.MAX_SAFE_INTEGER);
      return;
    }
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    offset = dataStart + padded;

    if (type === 'L' || type === 'x' || type === 'g') {
      if (size > MAX_META) {
        yield { kind: 'problem', id: 'wds.unsafe_name', member: name, message: `a ${size}-byte long-name/pax record` };
        await r.skip(padded);
        continue;
      }
      const data = await r.read(size);
      if ((await r.skip(padded - size)) < padded - size || data.length < size) {
        yield { kind: 'problem', id: 'wds.truncated', member: name, message: 'the archive ends inside a pax/long-name record' };
        return;
      }
      if (type === 'L') longName = cstring(data, 0, data.length);
      else if (type === 'x') longName = paxPath(data);
      continue;
    }
    const problem = fromMeta ? unsafeName(name, new Uint8Array(100)) : unsafeName(name, rawName);
    if (problem) {
      name = JSON.stringify(name).slice(1, -1);
      yield { kind: 'problem', id: 'wds.unsafe_name', member: name, message: `member name ${problem}` };
      if ((await r.skip(padded)) < padded) return;
      yield { kind: 'member', name, offset: dataStart - BLOCK, size, unsafe: true };
      continue;
    }
    last = name;
    if (type !== '0' && type !== '\0' && type !== '7') {
      yield {
        kind: 'problem',
        id: 'wds.non_regular_member',
        member: name,
        message: `a ${TYPE_NAMES[type] ?? `type '${type}'`} entry, not a regular file`,
      };
      if ((await r.skip(padded)) < padded) {
        yield { kind: 'problem', id: 'wds.truncated', member: name, message: 'the archive ends inside this member' };
        return;
      }
      continue;
    }
    const wanted = opts.want(name, size);
    if (wanted && size <= opts.maxData) {
      const data = opts.shareData ? await r.read(size) : await r.readCopy(size);
      const pad = await r.skip(padded - size);
      if (data.length < size || pad < padded - size) {
        yield {
          kind: 'problem',
          id: 'wds.truncated',
          member: name,
          message: `the archive ends inside this member (${data.length} of ${size} bytes)`,
        };
        return;
      }
      yield { kind: 'member', name, offset: dataStart - BLOCK, size, data };
    } else {
      if ((await r.skip(padded)) < padded) {
        yield { kind: 'problem', id: 'wds.truncated', member: name, message: 'the archive ends inside this member' };
        return;
      }
      yield { kind: 'member', name, offset: dataStart - BLOCK, size, ...(wanted ? { tooLarge: true } : {}) };
    }
  }
}
