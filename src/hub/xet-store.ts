/**
 * Xet storage of the local Hub server, beside the LFS object store (under `{dir}/xet/`):
 *
 *   xorbs/{aa}/{hash}        a xorb's chunks as uploaded (header + stored bytes each; footer dropped)
 *   xorbs/{aa}/{hash}.idx    per chunk: chunk hash (32 bytes), byte offset (u32 LE), raw size (u32 LE)
 *   files/{aa}/{hash}.json   a file's reconstruction terms, size, sha256, and the repos that may read it
 *   sha256/{aa}/{sha256}     the Xet file hash of a file with that sha256 (how LFS pointers resolve)
 *   chunks/{aa}/{hash}       the xorb holding a chunk, for the dedup query (first chunks of files and
 *                            xorbs, and chunks whose hash % 4 == 0)
 *
 * Nothing is visible before it is verified: a xorb's hash is recomputed from its decoded chunks
 * while it streams to a temp file; a shard's files are checked term by term against the stored
 * xorbs (chunk ranges, sizes, verification hashes, file hash, and sha256 over the reconstructed
 * bytes) before any record is written. Memory per request is one chunk, never a whole file or xorb.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { HubStore } from './store.ts';
import { DEDUP_QUERY_MODULUS } from './xet-writer.ts';
import {
  CHUNK_HEADER_BYTES,
  MAX_XORB_BYTES,
  XetFormatError,
  buildXorbShard,
  decodeChunk,
  readChunkHeader,
  type Shard,
  type ShardXorb,
} from './xet-format.ts';
import {
  aggregatedHash,
  chunkHash,
  fileHash,
  hashMod,
  sameBytes,
  verificationHash,
  xetHashBytes,
  xetHex,
  type HashAndSize,
} from './xet-hash.ts';

/** Bytes after a xorb's last chunk (the reference client's footer: chunk hashes and offsets). */
export const MAX_XORB_FOOTER_BYTES = 1024 * 1024;
/**
 * Chunks whose hash % this is 0 are indexed for the dedup query. The reference client asks about
 * chunks with hash % 1024 == 0 (a subset); push's writer asks about hash % 4 == 0 (xet-writer.ts).
 */
const DEDUP_CHUNK_MODULUS = DEDUP_QUERY_MODULUS;
const IDX_ENTRY = 40;
const FOOTER_FIRST_BYTE = 0x58; // 'X' of "XETBLOB": chunk headers start with version 0

export interface XorbChunk {
  hash: Uint8Array;
  byteStart: number;
  rawSize: number;
}

export interface XorbIndex {
  chunks: XorbChunk[];
  /** Stored bytes (all chunks with their headers). */
  size: number;
}

export interface XetTerm {
  xorb: string;
  start: number;
  end: number;
  rawBytes: number;
}

export interface XetFileRecord {
  hash: string;
  size: number;
  sha256: string;
  terms: XetTerm[];
  /** `{type}/{id}` of the repos whose tokens uploaded it or whose commits name it. */
  repos: string[];
}

export class XetStore {
  readonly dir: string;
  private readonly hub: HubStore;
  private readonly fileLocks = new Map<string, Promise<unknown>>();

  constructor(hub: HubStore) {
    this.hub = hub;
    this.dir = path.join(hub.dir, 'xet');
  }

  private at(kind: string, hex: string, ext = ''): string {
    return path.join(this.dir, kind, hex.slice(0, 2), hex + ext);
  }

  /**
   * A dedup hint (chunk → xorb): temp + rename but no fsync, as a lost hint only costs a missed
   * dedup; there are thousands per GB, and an fsync each would dominate an upload.
   */
  private async writeHint(file: string, text: string): Promise<void> {
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = this.hub.tmpPath('hint');
    await writeFile(tmp, text);
    await rename(tmp, file);
  }

  async hasXorb(hex: string): Promise<number | undefined> {
    try {
      return (await stat(this.at('xorbs', hex))).size;
    } catch {
      return undefined;
    }
  }

  async xorbIndex(hex: string): Promise<XorbIndex | undefined> {
    let raw: Buffer;
    let size: number;
    try {
      raw = await readFile(this.at('xorbs', hex, '.idx'));
      size = (await stat(this.at('xorbs', hex))).size;
    } catch {
      return undefined;
    }
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const chunks: XorbChunk[] = [];
    for (let o = 0; o + IDX_ENTRY <= raw.length; o += IDX_ENTRY) {
      chunks.push({ hash: raw.subarray(o, o + 32), byteStart: v.getUint32(o + 32, true), rawSize: v.getUint32(o + 36, true) });
    }
    return { chunks, size };
  }

  /**
   * Stream a xorb upload to a temp file, decoding and hashing each chunk as it arrives; keep it only
   * when the chunks hash to `hex`. Returns false when it was already stored (the body is drained).
   */
  async putXorb(src: AsyncIterable<Uint8Array>, hex: string, onBytes: (n: number) => void): Promise<boolean> {
    if (!xetHashBytes(hex)) throw new XetFormatError(`xorb hash ${JSON.stringify(hex)} is not 64 lowercase hex digits`);
    if ((await this.hasXorb(hex)) !== undefined) {
      for await (const c of src) onBytes(c.length);
      return false;
    }
    const tmp = this.hub.tmpPath(`xorb-${hex}`);
    const fh = await open(tmp, 'w');
    const leaves: HashAndSize[] = [];
    const idx: XorbChunk[] = [];
    let pending: Buffer = Buffer.alloc(0);
    let written = 0;
    let received = 0;
    let footer = 0;
    try {
      for await (const c of src) {
        received += c.length;
        onBytes(c.length);
        if (received > MAX_XORB_BYTES) throw new XetFormatError(`xorb is larger than ${MAX_XORB_BYTES} bytes`);
        if (footer > 0 || (pending.length === 0 && c[0] === FOOTER_FIRST_BYTE && leaves.length > 0)) {
          footer += c.length;
          if (footer > MAX_XORB_FOOTER_BYTES) throw new XetFormatError(`xorb footer is larger than ${MAX_XORB_FOOTER_BYTES} bytes`);
          continue;
        }
        pending = pending.length === 0 ? Buffer.from(c) : Buffer.concat([pending, c]);
        let off = 0;
        while (pending.length - off >= CHUNK_HEADER_BYTES) {
          if (pending[off] === FOOTER_FIRST_BYTE && leaves.length > 0) {
            footer = pending.length - off;
            break;
          }
          const h = readChunkHeader(pending, off, leaves.length);
          const total = CHUNK_HEADER_BYTES + h.storedSize;
          if (pending.length - off < total) break;
          const stored = pending.subarray(off + CHUNK_HEADER_BYTES, off + total);
          const raw = decodeChunk(h, stored, leaves.length);
          const hash = chunkHash(raw);
          leaves.push({ hash, size: raw.length });
          idx.push({ hash, byteStart: written, rawSize: raw.length });
          await fh.write(pending, off, total);
          written += total;
          off += total;
        }
        if (footer > MAX_XORB_FOOTER_BYTES) throw new XetFormatError(`xorb footer is larger than ${MAX_XORB_FOOTER_BYTES} bytes`);
        pending = footer > 0 ? Buffer.alloc(0) : pending.subarray(off);
      }
      if (pending.length > 0)
        throw new XetFormatError(`xorb is truncated: ${pending.length} bytes of chunk ${leaves.length} are missing their rest`);
      if (leaves.length === 0) throw new XetFormatError('xorb has no chunks');
      const got = xetHex(aggregatedHash(leaves));
      if (got !== hex) throw new XetFormatError(`xorb chunks hash to ${got}, not to ${hex} (corrupt or mismatching upload)`);
      await fh.sync();
      await fh.close();
      const index = Buffer.alloc(idx.length * IDX_ENTRY);
      idx.forEach((e, i) => {
        index.set(e.hash, i * IDX_ENTRY);
        index.writeUInt32LE(e.byteStart, i * IDX_ENTRY + 32);
        index.writeUInt32LE(e.rawSize, i * IDX_ENTRY + 36);
      });
      // The index first: a xorb file without its index is never looked at as stored.
      await this.hub.writeAtomic(this.at('xorbs', hex, '.idx'), index);
      await mkdir(path.dirname(this.at('xorbs', hex)), { recursive: true });
      await rename(tmp, this.at('xorbs', hex));
      await this.indexChunks(hex, idx, [0]);
      return true;
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw err;
    }
  }

  private async indexChunks(xorb: string, chunks: XorbChunk[], always: number[]): Promise<void> {
    for (let i = 0; i < chunks.length; i++) {
      if (!always.includes(i) && hashMod(chunks[i]!.hash, DEDUP_CHUNK_MODULUS) !== 0) continue;
      const file = this.at('chunks', xetHex(chunks[i]!.hash));
      try {
        await stat(file);
      } catch {
        await this.writeHint(file, xorb);
      }
    }
  }

  /**
   * Verify every file of an uploaded shard against the stored xorbs, then record them (scoped to
   * `repo`). Throws XetFormatError, recording nothing, when any check fails.
   */
  async putShard(shard: Shard, repo: string): Promise<void> {
    for (const x of shard.xorbs) {
      const idx = await this.xorbIndex(xetHex(x.hash));
      if (!idx) throw new XetFormatError(`shard lists xorb ${xetHex(x.hash)}, which was never uploaded`);
      if (idx.chunks.length !== x.chunks.length || x.chunks.some((c, i) => !sameBytes(c.hash, idx.chunks[i]!.hash)))
        throw new XetFormatError(`shard's chunk list of xorb ${xetHex(x.hash)} does not match the xorb`);
    }
    const records: XetFileRecord[] = [];
    for (const [fi, f] of shard.files.entries()) {
      const where = `file ${fi} (${xetHex(f.hash)})`;
      if (!f.sha256) throw new XetFormatError(`${where} has no sha256 metadata: a git repo's LFS pointers need it`);
      const leaves: HashAndSize[] = [];
      const terms: XetTerm[] = [];
      for (const [ti, t] of f.terms.entries()) {
        const xorb = xetHex(t.xorb);
        const idx = await this.xorbIndex(xorb);
        if (!idx) throw new XetFormatError(`${where} term ${ti}: xorb ${xorb} was never uploaded`);
        if (t.chunkStart >= t.chunkEnd || t.chunkEnd > idx.chunks.length)
          throw new XetFormatError(
            `${where} term ${ti}: chunks ${t.chunkStart}..${t.chunkEnd} are not within the xorb's ${idx.chunks.length}`,
          );
        const chunks = idx.chunks.slice(t.chunkStart, t.chunkEnd);
        const raw = chunks.reduce((n, c) => n + c.rawSize, 0);
        if (raw !== t.rawBytes) throw new XetFormatError(`${where} term ${ti}: says ${t.rawBytes} bytes, its chunks hold ${raw}`);
        if (!t.verification) throw new XetFormatError(`${where} term ${ti}: verification hash is missing`);
        if (!sameBytes(verificationHash(chunks.map((c) => c.hash)), t.verification))
          throw new XetFormatError(`${where} term ${ti}: verification hash does not match the xorb's chunks`);
        for (const c of chunks) leaves.push({ hash: c.hash, size: c.rawSize });
        terms.push({ xorb, start: t.chunkStart, end: t.chunkEnd, rawBytes: raw });
      }
      if (!sameBytes(fileHash(leaves), f.hash)) throw new XetFormatError(`${where}: its chunks hash to ${xetHex(fileHash(leaves))}`);
      const size = leaves.reduce((n, l) => n + l.size, 0);
      const record: XetFileRecord = { hash: xetHex(f.hash), size, sha256: '', terms, repos: [repo] };
      const sha = createHash('sha256');
      for await (const piece of this.readFile(record, 0, size - 1)) sha.update(piece);
      const digest = sha.digest('hex');
      // Clients write the sha256 either as plain bytes or in the protocol's word order.
      if (digest !== Buffer.from(f.sha256).toString('hex') && digest !== xetHex(f.sha256))
        throw new XetFormatError(`${where}: the reconstructed bytes have sha256 ${digest}, not the one the shard claims`);
      record.sha256 = digest;
      records.push(record);
    }
    for (const r of records) {
      await this.addFile(r);
      const first = r.terms[0];
      if (first) {
        const idx = await this.xorbIndex(first.xorb);
        if (idx) await this.indexChunks(first.xorb, idx.chunks.slice(first.start, first.start + 1), [0]);
      }
    }
  }

  private async addFile(r: XetFileRecord): Promise<void> {
    // One writer per file record at a time: two shards naming the same file merge their repo lists.
    const prev = this.fileLocks.get(r.hash) ?? Promise.resolve();
    const run = prev.then(async () => {
      const old = await this.fileRecord(r.hash);
      const repos = [...new Set([...(old?.repos ?? []), ...r.repos])].sort();
      await this.hub.writeAtomic(this.at('files', r.hash, '.json'), JSON.stringify({ ...r, repos }));
      await this.hub.writeAtomic(this.at('sha256', r.sha256), r.hash);
    });
    const settled = run.catch(() => undefined);
    this.fileLocks.set(r.hash, settled);
    try {
      await run;
    } finally {
      if (this.fileLocks.get(r.hash) === settled) this.fileLocks.delete(r.hash);
    }
  }

  /** Let `repo` read the file (its commit names the file's sha256). */
  async grant(fileHex: string, repo: string): Promise<void> {
    const r = await this.fileRecord(fileHex);
    if (r && !r.repos.includes(repo)) await this.addFile({ ...r, repos: [repo] });
  }

  async fileRecord(hex: string): Promise<XetFileRecord | undefined> {
    if (!xetHashBytes(hex)) return undefined;
    try {
      return JSON.parse(await readFile(this.at('files', hex, '.json'), 'utf8')) as XetFileRecord;
    } catch {
      return undefined;
    }
  }

  async fileBySha256(sha256: string): Promise<XetFileRecord | undefined> {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return undefined;
    try {
      return await this.fileRecord((await readFile(this.at('sha256', sha256), 'utf8')).trim());
    } catch {
      return undefined;
    }
  }

  /** The dedup answer for a chunk: a shard listing the xorb that holds it, or undefined. */
  async dedupShard(chunkHex: string): Promise<Uint8Array | undefined> {
    if (!xetHashBytes(chunkHex)) return undefined;
    let xorb: string;
    try {
      xorb = (await readFile(this.at('chunks', chunkHex), 'utf8')).trim();
    } catch {
      return undefined;
    }
    const idx = await this.xorbIndex(xorb);
    if (!idx) return undefined;
    const x: ShardXorb = {
      hash: xetHashBytes(xorb)!,
      rawBytes: idx.chunks.reduce((n, c) => n + c.rawSize, 0),
      storedBytes: idx.size,
      chunks: idx.chunks.map((c) => ({ hash: c.hash, byteStart: c.byteStart, rawBytes: c.rawSize })),
    };
    return buildXorbShard([x]);
  }

  /** Stored byte range [start, end] (inclusive) of chunks [from, to) of a xorb. */
  static byteRange(idx: XorbIndex, from: number, to: number): { start: number; end: number } {
    const start = idx.chunks[from]!.byteStart;
    const end = to < idx.chunks.length ? idx.chunks[to]!.byteStart : idx.size;
    return { start, end: end - 1 };
  }

  readXorb(hex: string, range: { start: number; end: number }): Readable {
    return createReadStream(this.at('xorbs', hex), range);
  }

  /** The file's bytes [start, end] (inclusive), decoded chunk by chunk from the stored xorbs. */
  async *readFile(r: XetFileRecord, start: number, end: number): AsyncGenerator<Uint8Array> {
    let pos = 0;
    for (const t of r.terms) {
      const termEnd = pos + t.rawBytes;
      if (termEnd <= start) {
        pos = termEnd;
        continue;
      }
      if (pos > end) return;
      const idx = await this.xorbIndex(t.xorb);
      if (!idx) throw new XetFormatError(`xorb ${t.xorb} of file ${r.hash} is missing from the store`);
      const fh = await open(this.at('xorbs', t.xorb), 'r');
      try {
        for (let i = t.start; i < t.end && pos <= end; i++) {
          const c = idx.chunks[i]!;
          if (pos + c.rawSize <= start) {
            pos += c.rawSize;
            continue;
          }
          const { start: s, end: e } = XetStore.byteRange(idx, i, i + 1);
          const buf = Buffer.alloc(e - s + 1);
          const { bytesRead } = await fh.read(buf, 0, buf.length, s);
          if (bytesRead !== buf.length) throw new XetFormatError(`xorb ${t.xorb} is shorter than its index`);
          const h = readChunkHeader(buf, 0, i);
          const raw = decodeChunk(h, buf.subarray(CHUNK_HEADER_BYTES), i);
          const from = Math.max(0, start - pos);
          const to = Math.min(raw.length, end - pos + 1);
          yield raw.subarray(from, to);
          pos += raw.length;
        }
      } finally {
        await fh.close();
      }
      pos = Math.max(pos, termEnd);
    }
  }
}
