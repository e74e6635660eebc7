/**
 * The Xet wire formats (https://huggingface.co/docs/xet/xorb, .../shard): xorb chunks (8-byte
 * header, then the data stored raw, LZ4-framed, or byte-grouped by 4 then LZ4-framed), and shards
 * (file reconstructions + xorb chunk listings). LZ4 is lz4-napi: the LZ4 *frame* format, the
 * same lz4_flex code the reference client uses. Every size read from the wire is checked against a
 * named limit before anything is allocated for it.
 */
import { decompressFrameSync } from 'lz4-napi';

/** A chunk is at most 128 KiB before compression (the protocol's limit). */
export const MAX_CHUNK_BYTES = 128 * 1024;
/** A stored chunk may be a little larger than its raw bytes (incompressible data with frame overhead). */
export const MAX_STORED_CHUNK_BYTES = MAX_CHUNK_BYTES + 1024;
/** A serialized xorb is at most 64 MiB (the protocol's limit), plus room for its footer. */
export const MAX_XORB_BYTES = 64 * 1024 * 1024 + 1024 * 1024;
/** Largest shard accepted on upload (a listing of files and chunks, not data). */
export const MAX_SHARD_BYTES = 64 * 1024 * 1024;
export const CHUNK_HEADER_BYTES = 8;

export class XetFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XetFormatError';
  }
}

export interface ChunkHeader {
  storedSize: number;
  scheme: number;
  rawSize: number;
}

export function readChunkHeader(b: Uint8Array, at: number, index: number): ChunkHeader {
  if (b[at] !== 0) throw new XetFormatError(`chunk ${index}: header version ${b[at]}, expected 0`);
  const storedSize = b[at + 1]! | (b[at + 2]! << 8) | (b[at + 3]! << 16);
  const scheme = b[at + 4]!;
  const rawSize = b[at + 5]! | (b[at + 6]! << 8) | (b[at + 7]! << 16);
  if (scheme > 2) throw new XetFormatError(`chunk ${index}: unknown compression scheme ${scheme}`);
  if (rawSize === 0 || rawSize > MAX_CHUNK_BYTES)
    throw new XetFormatError(`chunk ${index}: raw size ${rawSize} is not 1..${MAX_CHUNK_BYTES}`);
  if (storedSize === 0 || storedSize > MAX_STORED_CHUNK_BYTES)
    throw new XetFormatError(`chunk ${index}: stored size ${storedSize} is not 1..${MAX_STORED_CHUNK_BYTES}`);
  if (scheme === 0 && storedSize !== rawSize)
    throw new XetFormatError(`chunk ${index}: uncompressed but stored ${storedSize} of ${rawSize} bytes`);
  return { storedSize, scheme, rawSize };
}

/** Undo byte grouping: the data was split into 4 groups (byte i of every 4 bytes into group i). */
function ungroup4(g: Uint8Array): Uint8Array {
  const n = g.length;
  const out = new Uint8Array(n);
  const base = Math.floor(n / 4);
  const rest = n % 4;
  let off = 0;
  for (let k = 0; k < 4; k++) {
    const len = base + (k < rest ? 1 : 0);
    for (let j = 0; j < len; j++) out[4 * j + k] = g[off + j]!;
    off += len;
  }
  return out;
}

/** The raw bytes of one stored chunk; a wrong length or an undecodable frame is a XetFormatError. */
export function decodeChunk(h: ChunkHeader, stored: Uint8Array, index: number): Uint8Array {
  if (h.scheme === 0) return stored;
  let raw: Uint8Array;
  try {
    raw = decompressFrameSync(Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength));
  } catch {
    throw new XetFormatError(`chunk ${index}: its LZ4 frame does not decode`);
  }
  if (raw.length !== h.rawSize) throw new XetFormatError(`chunk ${index}: decodes to ${raw.length} bytes, its header says ${h.rawSize}`);
  return h.scheme === 2 ? ungroup4(raw) : raw;
}

// ---- shards ----

export const SHARD_TAG = Uint8Array.from([
  72, 70, 82, 101, 112, 111, 77, 101, 116, 97, 68, 97, 116, 97, 0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209,
  74, 169,
]);
const SHARD_HEADER_BYTES = 48;
const ENTRY_BYTES = 48;
const SHARD_FOOTER_BYTES = 200;
const FLAG_VERIFICATION = 0x80000000;
const FLAG_METADATA = 0x40000000;

export interface ShardTerm {
  xorb: Uint8Array;
  rawBytes: number;
  chunkStart: number;
  chunkEnd: number;
  verification?: Uint8Array;
}

export interface ShardFile {
  hash: Uint8Array;
  terms: ShardTerm[];
  sha256?: Uint8Array;
}

export interface ShardXorbChunk {
  hash: Uint8Array;
  byteStart: number;
  rawBytes: number;
}

export interface ShardXorb {
  hash: Uint8Array;
  rawBytes: number;
  storedBytes: number;
  chunks: ShardXorbChunk[];
}

export interface Shard {
  files: ShardFile[];
  xorbs: ShardXorb[];
}

function isBookend(b: Uint8Array, at: number): boolean {
  for (let i = 0; i < 32; i++) if (b[at + i] !== 0xff) return false;
  return true;
}

/** Parse a shard (footer optional, as uploads omit it). Structure only; hashes are checked by the store. */
export function parseShard(b: Uint8Array): Shard {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < SHARD_HEADER_BYTES + 2 * ENTRY_BYTES)
    throw new XetFormatError(`shard of ${b.length} bytes is shorter than its header and bookends`);
  for (let i = 0; i < 32; i++) if (b[i] !== SHARD_TAG[i]) throw new XetFormatError('shard header tag is wrong: not a shard');
  if (v.getBigUint64(32, true) !== 2n) throw new XetFormatError(`shard header version ${v.getBigUint64(32, true)}, expected 2`);
  const footer = v.getBigUint64(40, true);
  if (footer !== 0n && footer !== BigInt(SHARD_FOOTER_BYTES)) throw new XetFormatError(`shard footer size ${footer}, expected 0 or 200`);
  const end = b.length - Number(footer);
  let at = SHARD_HEADER_BYTES;
  const need = (n: number, what: string): void => {
    if (at + n > end) throw new XetFormatError(`shard is truncated at byte ${at} (in ${what})`);
  };
  const hashAt = (o: number): Uint8Array => b.slice(o, o + 32);
  const files: ShardFile[] = [];
  for (;;) {
    need(ENTRY_BYTES, 'file info');
    if (isBookend(b, at)) {
      at += ENTRY_BYTES;
      break;
    }
    const hash = hashAt(at);
    const flags = v.getUint32(at + 32, true);
    const n = v.getUint32(at + 36, true);
    at += ENTRY_BYTES;
    const withVerification = (flags & FLAG_VERIFICATION) !== 0;
    const withMetadata = (flags & FLAG_METADATA) !== 0;
    need(ENTRY_BYTES * (n * (withVerification ? 2 : 1) + (withMetadata ? 1 : 0)), `file ${files.length}`);
    const terms: ShardTerm[] = [];
    for (let i = 0; i < n; i++, at += ENTRY_BYTES) {
      terms.push({
        xorb: hashAt(at),
        rawBytes: v.getUint32(at + 36, true),
        chunkStart: v.getUint32(at + 40, true),
        chunkEnd: v.getUint32(at + 44, true),
      });
    }
    if (withVerification) for (let i = 0; i < n; i++, at += ENTRY_BYTES) terms[i]!.verification = hashAt(at);
    const file: ShardFile = { hash, terms };
    if (withMetadata) {
      file.sha256 = hashAt(at);
      at += ENTRY_BYTES;
    }
    files.push(file);
  }
  const xorbs: ShardXorb[] = [];
  for (;;) {
    need(ENTRY_BYTES, 'xorb info');
    if (isBookend(b, at)) {
      at += ENTRY_BYTES;
      break;
    }
    const x: ShardXorb = { hash: hashAt(at), rawBytes: v.getUint32(at + 40, true), storedBytes: v.getUint32(at + 44, true), chunks: [] };
    const n = v.getUint32(at + 36, true);
    at += ENTRY_BYTES;
    need(ENTRY_BYTES * n, `xorb ${xorbs.length}`);
    for (let i = 0; i < n; i++, at += ENTRY_BYTES) {
      x.chunks.push({ hash: hashAt(at), byteStart: v.getUint32(at + 32, true), rawBytes: v.getUint32(at + 36, true) });
    }
    xorbs.push(x);
  }
  if (at !== end) throw new XetFormatError(`shard has ${end - at} bytes after its xorb section`);
  return { files, xorbs };
}

/**
 * A shard that lists only xorbs (no files), with a footer: the answer to a dedup query. The chunk
 * hashes are listed as they are (HMAC key zero) so clients match them directly.
 */
export function buildXorbShard(xorbs: ShardXorb[]): Uint8Array {
  const entries = 2 + xorbs.reduce((n, x) => n + 1 + x.chunks.length, 0);
  const size = SHARD_HEADER_BYTES + entries * ENTRY_BYTES + SHARD_FOOTER_BYTES;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  b.set(SHARD_TAG, 0);
  v.setBigUint64(32, 2n, true);
  v.setBigUint64(40, BigInt(SHARD_FOOTER_BYTES), true);
  let at = SHARD_HEADER_BYTES;
  const bookend = (): void => {
    b.fill(0xff, at, at + 32);
    at += ENTRY_BYTES;
  };
  bookend(); // no files
  const casOffset = at;
  for (const x of xorbs) {
    b.set(x.hash, at);
    v.setUint32(at + 36, x.chunks.length, true);
    v.setUint32(at + 40, x.rawBytes, true);
    v.setUint32(at + 44, x.storedBytes, true);
    at += ENTRY_BYTES;
    for (const c of x.chunks) {
      b.set(c.hash, at);
      v.setUint32(at + 32, c.byteStart, true);
      v.setUint32(at + 36, c.rawBytes, true);
      at += ENTRY_BYTES;
    }
  }
  bookend();
  const footerAt = at;
  v.setBigUint64(at, 1n, true);
  v.setBigUint64(at + 8, BigInt(SHARD_HEADER_BYTES), true);
  v.setBigUint64(at + 16, BigInt(casOffset), true);
  // Reserved 48 bytes, zero HMAC key, creation time and expiry: zero time (deterministic), no expiry.
  v.setBigUint64(at + 112, 0xffffffffffffffffn, true);
  v.setBigUint64(at + 192, BigInt(footerAt), true);
  return b;
}
