/**
 * Split a byte stream into lines, gunzipping first when asked. Memory is bounded by the longest
 * line allowed: a line past `maxLineBytes` (a 3 MB .jsonl.gz can hold a 3 GB line) stops the read
 * with an error naming the file and line, and decompression stops with it.
 */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { InputError } from '../errors.ts';
import { DEFAULT_LIMITS, overLimit } from '../limits.ts';

async function* gunzip(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const input = Readable.from(chunks);
  const z = input.pipe(createGunzip());
  try {
    for await (const c of z) {
      const b = c as Buffer;
      yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
  } finally {
    // Stopped early (a line over the limit, or the caller gave up): stop reading the file too.
    input.destroy();
    z.destroy();
  }
}

export interface LineOptions {
  /** Longest line in bytes (without its `\n`). */
  maxLineBytes?: number;
  /** The file as messages name it. */
  file?: string;
}

/** Yields `[lineNumber (1-based), text]` for each line, `\n` or `\r\n` separated. */
export async function* readLines(chunks: AsyncIterable<Uint8Array>, gzip = false, opts: LineOptions = {}): AsyncIterable<[number, string]> {
  const max = opts.maxLineBytes ?? DEFAULT_LIMITS.maxLineBytes;
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let lineNo = 0;
  const text = (parts: Uint8Array[]): string => {
    const s = utf8Text(parts.length === 1 ? parts[0]! : concatBytes(parts));
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  const tooLong = (): InputError => {
    const where = opts.file === undefined ? { row: `line ${lineNo + 1}` } : { file: opts.file, row: `line ${lineNo + 1}` };
    return new InputError(`line longer than ${max} bytes, ${overLimit('maxLineBytes', max)}`, where);
  };
  for await (const chunk of gzip ? gunzip(chunks) : chunks) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const len = pendingBytes + nl - start;
      // A `\r` before the `\n` is not part of the line.
      if (len > max && (len > max + 1 || !endsInCr(chunk, start, nl, pending))) throw tooLong();
      pending.push(chunk.subarray(start, nl));
      yield [++lineNo, text(pending)];
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      pendingBytes += chunk.length - start;
      // Past max + 1 no `\r\n` can make it fit; at max + 1 the next byte decides.
      if (pendingBytes > max + 1) throw tooLong();
      pending.push(chunk.slice(start));
    }
  }
  if (pendingBytes > max) throw tooLong(); // the last line has no `\n`; its `\r` counts
  if (pending.length && pending.some((p) => p.length)) yield [++lineNo, text(pending)];
}

/**
 * The text of UTF-8 bytes as `new TextDecoder().decode()` gives it (invalid sequences as U+FFFD, a
 * leading byte order mark dropped; both decode through V8), without its per-call overhead: a
 * JSONL export decodes a line per row, and TextDecoder's checks cost more than the decoding.
 */
export function utf8Text(b: Uint8Array): string {
  const bom = b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  return Buffer.from(b.buffer, b.byteOffset + bom, b.byteLength - bom).toString('utf8');
}

/** Whether the line ending at `chunk[nl]` (`\n`) has a `\r` before it, in this chunk or the pending ones. */
function endsInCr(chunk: Uint8Array, start: number, nl: number, pending: Uint8Array[]): boolean {
  if (nl > start) return chunk[nl - 1] === 13;
  for (let i = pending.length - 1; i >= 0; i--) if (pending[i]!.length) return pending[i]![pending[i]!.length - 1] === 13;
  return false;
}

export function concatBytes(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
