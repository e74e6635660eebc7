/** Split a byte stream into lines (bounded by the longest line), gunzipping first when asked. */
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

async function* gunzip(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const z = Readable.from(chunks).pipe(createGunzip());
  for await (const c of z) {
    const b = c as Buffer;
    yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
}

/** Yields `[lineNumber (1-based), text]` for each line, `\n` or `\r\n` separated. */
export async function* readLines(chunks: AsyncIterable<Uint8Array>, gzip = false): AsyncIterable<[number, string]> {
  const decoder = new TextDecoder('utf-8');
  let pending: Uint8Array[] = [];
  let lineNo = 0;
  const text = (parts: Uint8Array[]): string => {
    const s = decoder.decode(parts.length === 1 ? parts[0] : concatBytes(parts));
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  for await (const chunk of gzip ? gunzip(chunks) : chunks) {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      pending.push(chunk.subarray(start, nl));
      yield [++lineNo, text(pending)];
      pending = [];
      start = nl + 1;
    }
    if (start < chunk.length) pending.push(chunk.slice(start));
  }
  if (pending.length && pending.some((p) => p.length)) yield [++lineNo, text(pending)];
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
