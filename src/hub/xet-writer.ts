/**
 * push's own Xet uploader (https://huggingface.co/docs/xet/upload-protocol), used when the Hub
 * offers Xet. It streams each file once: content-defined chunks and their hashes come from
 * ./xet-chunker.ts (the boundaries of the chunker @huggingface/hub uses, with a native hash), the sha256 is checked
 * against the manifest on the way, chunks the Hub already stores are referenced instead of sent,
 * and new ones are packed into xorbs of at most XORB_TARGET_BYTES (LZ4 frames when that is smaller).
 * A shard records the files each time SHARD_FILE_BYTES of them are done (and at the end), so the Hub
 * verifies those files while the next ones are read. Memory: two read blocks, the xorb being filled
 * and at most MAX_XORBS_IN_FLIGHT waiting or uploading.
 *
 * Why not @huggingface/hub's own Xet path: it asks the Hub about a file's first chunk only, so a
 * Parquet file whose first rows changed re-sends every chunk; here chunks whose hash % DEDUP_QUERY_MODULUS
 * is 0 are asked about too, and one answer lists a whole xorb, so the rest match locally.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { compressFrameSync } from 'lz4-napi';
import { XetChunker } from './xet-chunker.ts';
import { CHUNK_HEADER_BYTES, SHARD_TAG, type ShardXorb, parseShard } from './xet-format.ts';
import {
  aggregatedHash,
  chunkHmac,
  fileHash,
  hashMod,
  sameBytes,
  verificationHash,
  xetHashBytes,
  xetHex,
  type HashAndSize,
} from './xet-hash.ts';

/** New chunks are packed into xorbs of about this many stored bytes (the protocol allows 64 MiB). */
export const XORB_TARGET_BYTES = 16 * 1024 * 1024;
/** Most chunks in one xorb. */
export const MAX_XORB_CHUNKS = 8 * 1024;
/** Chunks whose hash % this is 0 (and each file's first chunk) are looked up on the Hub. */
export const DEDUP_QUERY_MODULUS = 4;
const READ_BYTES = 4 * 1024 * 1024;
/** Bytes a chunk may span (the chunker's largest): the tail carried from one read block to the next. */
const MAX_CHUNK_BYTES = 128 * 1024;
/** Sealed xorbs waiting or uploading before reading pauses. */
const MAX_XORBS_IN_FLIGHT = 1;
/**
 * A shard is sent once the files it would record reach this many bytes: the Hub checks a shard's
 * files (their reconstructed bytes against the sha256) while push reads the next files, instead
 * of all at the end.
 */
export const SHARD_FILE_BYTES = 64 * 1024 * 1024;
/** Dedup questions in flight at once. */
const MAX_PARALLEL_QUERIES = 8;

export interface XetConnection {
  casUrl: string;
  accessToken: string;
}

export interface XetUploadFile {
  path: string;
  absPath: string;
  bytes: number;
  sha256: string;
  /** The bytes, when they are in memory rather than at absPath. */
  content?: Uint8Array;
}

export interface XetUploadStats {
  /** Xorb and shard bytes sent. */
  sent: number;
  /** Raw bytes of the new chunks sent. */
  newRawBytes: number;
  /** Raw bytes of the files uploaded. */
  fileBytes: number;
}

interface Placed {
  /** Index into `xorbs` (local, this session) or a remote xorb hash. */
  xorb: number | string;
  index: number;
}

interface Term {
  xorb: number | string;
  start: number;
  end: number;
  rawBytes: number;
  hashes: Uint8Array[];
}

/** A chunk of the file being read, with its bytes. */
interface ReadChunk {
  hash: Uint8Array;
  data: Buffer;
}

interface FileEntry {
  hash: Uint8Array;
  sha256: string;
  terms: Term[];
}

/** A file's bytes changed since the manifest was written (the caller turns it into its own error). */
export class XetFileChanged extends Error {
  constructor(readonly path: string) {
    super(`${path} changed since convert`);
  }
}

export class XetWriter {
  readonly stats: XetUploadStats = { sent: 0, newRawBytes: 0, fileBytes: 0 };
  private readonly conn: () => Promise<XetConnection>;
  private readonly fetchImpl: typeof fetch;
  /** Chunk hash (chunkKey) → where it is stored. */
  private readonly known = new Map<string, Placed>();
  private readonly asked = new Set<string>();
  /** The xorbs made this session, in order (a local Placed.xorb indexes this). */
  private readonly shardXorbs: ShardXorb[] = [];
  /** shardXorbs from here on are not in a shard yet. */
  private shardFrom = 0;
  private cur: { parts: Buffer[]; stored: number; chunks: Array<{ hash: Uint8Array; byteStart: number; rawBytes: number }> } = {
    parts: [],
    stored: 0,
    chunks: [],
  };
  private uploading: Promise<void> = Promise.resolve();
  /** One promise per sealed xorb not yet stored, oldest first. */
  private readonly inFlight: Promise<void>[] = [];
  /** The shard uploads sent so far. */
  private readonly sharding: Promise<void>[] = [];
  /** Files not in a shard yet, and their bytes. */
  private files: FileEntry[] = [];
  private filesBytes = 0;
  /** Two read blocks, used in turn: the chunks of one are placed while the next is read. */
  private readonly blocks = [Buffer.allocUnsafe(0), Buffer.allocUnsafe(0)];
  private readonly shardFileBytes: number;

  constructor(conn: () => Promise<XetConnection>, fetchImpl: typeof fetch = fetch, opts: { shardFileBytes?: number } = {}) {
    this.conn = conn;
    this.fetchImpl = fetchImpl;
    this.shardFileBytes = opts.shardFileBytes ?? SHARD_FILE_BYTES;
  }

  private async auth(): Promise<{ url: string; headers: Record<string, string> }> {
    const c = await this.conn();
    return { url: c.casUrl.replace(/\/+$/, ''), headers: { Authorization: `Bearer ${c.accessToken}` } };
  }

  /** Ask the Hub which xorb holds a chunk; every chunk of the xorbs it names becomes known. */
  private async query(hash: Uint8Array): Promise<void> {
    const hex = xetHex(hash);
    if (this.asked.has(hex)) return;
    this.asked.add(hex);
    const { url, headers } = await this.auth();
    const res = await this.fetchImpl(`${url}/v1/chunks/default-merkledb/${hex}`, { headers });
    if (res.status === 404) return;
    if (!res.ok) throw new Error(`Xet dedup query answered HTTP ${res.status}`);
    const body = new Uint8Array(await res.arrayBuffer());
    const shard = parseShard(body);
    const key = shardHmacKey(body);
    for (const x of shard.xorbs) {
      const xh = xetHex(x.hash);
      x.chunks.forEach((c, i) => {
        const id = chunkKey(c.hash);
        if (!this.known.has(id)) this.known.set(id, { xorb: xh, index: i });
      });
    }
    // Keyed answers list HMACs: look our own chunk up under its HMAC as well.
    if (key) this.hmacKeys.push(key);
  }

  private readonly hmacKeys: Uint8Array[] = [];

  private lookup(hash: Uint8Array): Placed | undefined {
    const hit = this.known.get(chunkKey(hash));
    if (hit) return hit;
    for (const k of this.hmacKeys) {
      const h = this.known.get(chunkKey(chunkHmac(hash, k)));
      if (h) return h;
    }
    return undefined;
  }

  private addChunk(hash: Uint8Array, data: Uint8Array): Placed {
    if (this.cur.stored + CHUNK_HEADER_BYTES + data.length > XORB_TARGET_BYTES || this.cur.chunks.length >= MAX_XORB_CHUNKS) this.flush();
    let stored: Uint8Array = data;
    let scheme = 0;
    const lz = compressFrameSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    if (lz.length < data.length) {
      stored = lz;
      scheme = 1;
    }
    const h = Buffer.alloc(CHUNK_HEADER_BYTES);
    h.writeUIntLE(stored.length, 1, 3);
    h[4] = scheme;
    h.writeUIntLE(data.length, 5, 3);
    this.cur.parts.push(h, Buffer.from(stored));
    this.cur.chunks.push({ hash, byteStart: this.cur.stored, rawBytes: data.length });
    this.cur.stored += CHUNK_HEADER_BYTES + stored.length;
    this.stats.newRawBytes += data.length;
    // The xorb being filled is sealed as the next entry of shardXorbs.
    const placed = { xorb: this.shardXorbs.length, index: this.cur.chunks.length - 1 };
    this.known.set(chunkKey(hash), placed);
    return placed;
  }

  /** Seal the xorb being filled and upload it (one upload in flight; the next one fills meanwhile). */
  private flush(): void {
    if (this.cur.chunks.length === 0) return;
    const { parts, chunks, stored } = this.cur;
    this.cur = { parts: [], stored: 0, chunks: [] };
    const raw = aggregatedHash(chunks.map((c) => ({ hash: c.hash, size: c.rawBytes })));
    const hash = xetHex(raw);
    const body = Buffer.concat(parts, stored);
    this.shardXorbs.push({ hash: raw, rawBytes: chunks.reduce((n, c) => n + c.rawBytes, 0), storedBytes: stored, chunks });
    // One upload at a time, chained: a failure stops the chain and surfaces in addFile() or finish().
    const done = this.uploading.then(async () => {
      try {
        const { url, headers } = await this.auth();
        const res = await this.fetchImpl(`${url}/v1/xorbs/default/${hash}`, { method: 'POST', body, headers });
        if (!res.ok) throw new Error(`Xet xorb upload answered HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
        this.stats.sent += body.length;
      } finally {
        this.inFlight.shift();
      }
    });
    this.uploading = done;
    this.inFlight.push(done);
    // Handled in addFile() or finish(); without this a failed upload would be an unhandled rejection meanwhile.
    done.catch(() => undefined);
  }

  /** Send a shard recording the files done since the last one, once the xorbs they name are stored. */
  private sealShard(): void {
    if (this.files.length === 0) return;
    this.flush();
    const body = buildUploadShard(
      this.files.map((f) => ({
        ...f,
        terms: f.terms.map((t) => ({ ...t, xorb: typeof t.xorb === 'number' ? xetHex(this.shardXorbs[t.xorb]!.hash) : t.xorb })),
      })),
      this.shardXorbs.slice(this.shardFrom),
    );
    this.shardFrom = this.shardXorbs.length;
    this.files = [];
    this.filesBytes = 0;
    const stored = this.uploading;
    // Each shard goes once the xorbs before it are stored, not waiting for earlier shards: the Hub
    // checks them side by side while xorb uploads go on.
    const sent = stored.then(async () => {
      const { url, headers } = await this.auth();
      const res = await this.fetchImpl(`${url}/v1/shards`, { method: 'POST', body, headers });
      if (!res.ok) throw new Error(`Xet shard upload answered HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
      this.stats.sent += body.length;
    });
    sent.catch(() => undefined); // awaited in finish()
    this.sharding.push(sent);
  }

  /** Chunk, dedupe and pack one file (its bytes stream from disk once). */
  async addFile(f: XetUploadFile): Promise<void> {
    const chunker = new XetChunker();
    const terms: Term[] = [];
    const leaves: HashAndSize[] = [];
    let first = true;
    // The dedup questions of one block of chunks go out together (in parallel), before any is placed.
    const askAbout = async (chunks: ReadChunk[]): Promise<void> => {
      const ask = chunks.filter((c, i) => ((first && i === 0) || hashMod(c.hash, DEDUP_QUERY_MODULUS) === 0) && !this.lookup(c.hash));
      if (chunks.length) first = false;
      for (let i = 0; i < ask.length; i += MAX_PARALLEL_QUERIES)
        await Promise.all(ask.slice(i, i + MAX_PARALLEL_QUERIES).map((c) => this.query(c.hash)));
    };
    const place = (c: ReadChunk): void => {
      const at = this.lookup(c.hash) ?? this.addChunk(c.hash, c.data);
      leaves.push({ hash: c.hash, size: c.data.length });
      const last = terms[terms.length - 1];
      if (last && last.xorb === at.xorb && last.end === at.index) {
        last.end += 1;
        last.rawBytes += c.data.length;
        last.hashes.push(c.hash);
      } else terms.push({ xorb: at.xorb, start: at.index, end: at.index + 1, rawBytes: c.data.length, hashes: [c.hash] });
    };
    /** The whole chunks at the start of `data`, with their bytes; the rest is carried to the next block. */
    let tail = 0;
    const cut = (data: Buffer, final: boolean): ReadChunk[] => {
      let at = 0;
      const chunks = chunker.chunks(data, final).map((c) => {
        const bytes = data.subarray(at, at + c.length);
        at += c.length;
        return { hash: c.hash, data: bytes };
      });
      tail = data.length - at;
      return chunks;
    };
    // A block is placed only after the next one is read and chunked: its dedup answers arrive meanwhile.
    let prev: { chunks: ReadChunk[]; asked: Promise<void> } | undefined;
    const settle = async (): Promise<void> => {
      if (!prev) return;
      await prev.asked;
      for (const c of prev.chunks) place(c);
      prev = undefined;
    };
    // On this thread: handing the bytes to the sha256 worker (a copy into shared memory and a
    // message per block) cost about as much as hashing them here.
    const sha = createHash('sha256');
    const fh = f.content ? undefined : await open(f.absPath, 'r');
    let digest: string;
    try {
      let pos = 0;
      let last: Buffer = Buffer.alloc(0);
      for (let turn = 0; ; turn ^= 1) {
        // The unplaced tail of the last block moves to the front of this one, and the read goes after it.
        if (this.blocks[turn]!.length === 0) this.blocks[turn] = Buffer.allocUnsafe(MAX_CHUNK_BYTES + READ_BYTES);
        const bytes = this.blocks[turn]!;
        last.copy(bytes, 0, last.length - tail);
        const carried = tail;
        let n: number;
        if (fh) n = (await fh.read(bytes, carried, READ_BYTES, pos)).bytesRead;
        else {
          n = Math.min(READ_BYTES, f.content!.length - pos);
          bytes.set(f.content!.subarray(pos, pos + n), carried);
        }
        if (n === 0) {
          await settle();
          const rest = cut(bytes.subarray(0, carried), true);
          await askAbout(rest);
          for (const c of rest) place(c);
          break;
        }
        pos += n;
        sha.update(bytes.subarray(carried, carried + n));
        last = bytes.subarray(0, carried + n);
        const chunks = cut(last, false);
        const asked = askAbout(chunks);
        asked.catch(() => undefined); // awaited in settle(); this only keeps it from being unhandled meanwhile
        await settle();
        prev = { chunks, asked };
        // Reading waits while the xorbs made wait for the upload.
        while (this.inFlight.length > MAX_XORBS_IN_FLIGHT) await this.inFlight[0];
      }
      digest = sha.digest('hex');
    } finally {
      await fh?.close();
    }
    if (digest !== f.sha256) throw new XetFileChanged(f.path);
    this.stats.fileBytes += f.bytes;
    this.files.push({ hash: fileHash(leaves), sha256: f.sha256, terms });
    this.filesBytes += f.bytes;
    if (this.filesBytes >= this.shardFileBytes) this.sealShard();
  }

  /** Upload what is left, and the shard of the files not yet in one; resolves once the Hub stored all. */
  async finish(): Promise<void> {
    this.sealShard();
    this.flush();
    await this.uploading;
    await Promise.all(this.sharding);
  }
}

/** A chunk hash as a map key: plain hex of its bytes (native; xetHex's word order is only needed on the wire). */
function chunkKey(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
}

/** The HMAC key of a dedup answer's footer, when it has a footer and the key is not zero. */
function shardHmacKey(b: Uint8Array): Uint8Array | undefined {
  const footer = Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(40, true));
  if (footer !== 200) return undefined;
  const key = b.slice(b.length - 200 + 72, b.length - 200 + 104);
  return sameBytes(key, new Uint8Array(32)) ? undefined : key;
}

/** A footerless upload shard: each file's terms with verification hashes and sha256, then the new xorbs. */
function buildUploadShard(
  files: Array<{ hash: Uint8Array; sha256: string; terms: Array<Term & { xorb: string }> }>,
  xorbs: ShardXorb[],
): Buffer {
  const entries = 2 + files.reduce((n, f) => n + 2 + 2 * f.terms.length, 0) + xorbs.reduce((n, x) => n + 1 + x.chunks.length, 0);
  const b = Buffer.alloc(48 + 48 * entries);
  b.set(SHARD_TAG, 0);
  b.writeBigUInt64LE(2n, 32);
  let at = 48;
  for (const f of files) {
    b.set(f.hash, at);
    b.writeUInt32LE(0xc0000000, at + 32); // with verification entries and the sha256 metadata
    b.writeUInt32LE(f.terms.length, at + 36);
    at += 48;
    for (const t of f.terms) {
      b.set(xetHashBytes(t.xorb)!, at);
      b.writeUInt32LE(t.rawBytes, at + 36);
      b.writeUInt32LE(t.start, at + 40);
      b.writeUInt32LE(t.end, at + 44);
      at += 48;
    }
    for (const t of f.terms) {
      b.set(verificationHash(t.hashes), at);
      at += 48;
    }
    b.set(xetHashBytes(f.sha256)!, at);
    at += 48;
  }
  b.fill(0xff, at, at + 32);
  at += 48;
  for (const x of xorbs) {
    b.set(x.hash, at);
    b.writeUInt32LE(x.chunks.length, at + 36);
    b.writeUInt32LE(x.rawBytes, at + 40);
    b.writeUInt32LE(x.storedBytes, at + 44);
    at += 48;
    for (const c of x.chunks) {
      b.set(c.hash, at);
      b.writeUInt32LE(c.byteStart, at + 32);
      b.writeUInt32LE(c.rawBytes, at + 36);
      at += 48;
    }
  }
  b.fill(0xff, at, at + 32);
  return b;
}
