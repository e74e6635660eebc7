/**
 * The hashes of the Xet protocol (https://huggingface.co/docs/xet/hashing): chunk hashes, the
 * aggregated Merkle hash of xorbs and files, and the term verification hash of shard uploads. All
 * are BLAKE3 keyed hashes (@napi-rs/blake-hash: native, the reference `blake3` crate, about ten
 * times faster than a JS or WASM BLAKE3 on 64 KiB chunks). Hashes travel as 32 raw bytes; in URLs and JSON they are
 * written in the protocol's string form (each 8-byte word little-endian, see `xetHex`).
 */
import { Blake3Hasher } from '@napi-rs/blake-hash';

const DATA_KEY = Buffer.from([
  102, 151, 245, 119, 91, 149, 80, 222, 49, 53, 203, 172, 165, 151, 24, 28, 157, 228, 33, 16, 155, 235, 43, 88, 180, 208, 176, 75, 147, 173,
  242, 41,
]);
const INTERNAL_NODE_KEY = Buffer.from([
  1, 126, 197, 199, 165, 71, 41, 150, 253, 148, 102, 102, 180, 138, 2, 230, 93, 221, 83, 111, 55, 199, 109, 210, 248, 99, 82, 230, 74, 83,
  113, 63,
]);
const VERIFICATION_KEY = Buffer.from([
  127, 24, 87, 214, 206, 86, 237, 102, 18, 127, 249, 19, 231, 165, 195, 243, 164, 205, 38, 213, 181, 219, 73, 230, 65, 36, 152, 127, 40,
  251, 148, 195,
]);
const ZERO_KEY = Buffer.alloc(32);

/** The same bytes as a Buffer (no copy): the binding's types take Buffers. */
function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** Keyed BLAKE3 of `data` (32 bytes). */
function keyed(data: Uint8Array, key: Buffer): Uint8Array {
  return Blake3Hasher.newKeyed(key).update(asBuffer(data)).digestBuffer();
}

const dataHasher = Blake3Hasher.newKeyed(DATA_KEY);

/** A hash as the protocol writes it: each 8-byte word as a little-endian u64 in 16 hex digits. */
export function xetHex(hash: Uint8Array): string {
  let out = '';
  for (let w = 0; w < 32; w += 8) for (let i = 7; i >= 0; i--) out += hash[w + i]!.toString(16).padStart(2, '0');
  return out;
}

export const XET_HEX_RE = /^[0-9a-f]{64}$/;

/** The raw bytes of a hash in the protocol's string form; undefined when it is not 64 lowercase hex digits. */
export function xetHashBytes(hex: string): Uint8Array | undefined {
  if (!XET_HEX_RE.test(hex)) return undefined;
  const out = new Uint8Array(32);
  for (let w = 0; w < 32; w += 8) for (let i = 0; i < 8; i++) out[w + 7 - i] = Number.parseInt(hex.slice(2 * (w + i), 2 * (w + i) + 2), 16);
  return out;
}

export function chunkHash(data: Uint8Array): Uint8Array {
  // One hasher reused: chunks are hashed by the thousand.
  dataHasher.reset();
  return dataHasher.update(asBuffer(data)).digestBuffer();
}

export interface HashAndSize {
  hash: Uint8Array;
  size: number;
}

/** The last 8-byte word as a little-endian u64, mod `m` (the protocol's `hash % m`). */
export function hashMod(hash: Uint8Array, m: number): number {
  const v = new DataView(hash.buffer, hash.byteOffset, 32).getBigUint64(24, true);
  return Number(v % BigInt(m));
}

function mergeGroup(group: HashAndSize[]): HashAndSize {
  let text = '';
  let size = 0;
  for (const g of group) {
    text += `${xetHex(g.hash)} : ${g.size}\n`;
    size += g.size;
  }
  return { hash: keyed(Buffer.from(text), INTERNAL_NODE_KEY), size };
}

/** Where the next group ends: at the first node from the third on whose hash % 4 == 0, at most 9 nodes. */
function nextCut(nodes: HashAndSize[], from: number): number {
  const left = nodes.length - from;
  if (left <= 2) return nodes.length;
  const end = Math.min(9, left);
  for (let i = 2; i < end; i++) if (hashMod(nodes[from + i]!.hash, 4) === 0) return from + i + 1;
  return from + end;
}

/** Root of the protocol's variable-fanout Merkle tree over (chunk hash, size) leaves: the xorb hash. */
export function aggregatedHash(leaves: HashAndSize[]): Uint8Array {
  if (leaves.length === 0) return new Uint8Array(32);
  let level = leaves;
  while (level.length > 1) {
    const next: HashAndSize[] = [];
    for (let i = 0; i < level.length; ) {
      const cut = nextCut(level, i);
      next.push(mergeGroup(level.slice(i, cut)));
      i = cut;
    }
    level = next;
  }
  return level[0]!.hash;
}

/** A file's hash: the aggregated hash of all its chunks, keyed-hashed once more with a zero key. */
export function fileHash(leaves: HashAndSize[]): Uint8Array {
  if (leaves.length === 0) return new Uint8Array(32);
  return keyed(aggregatedHash(leaves), ZERO_KEY);
}

/** The verification hash of one reconstruction term: keyed BLAKE3 of its chunk hashes' raw bytes. */
export function verificationHash(chunkHashes: Uint8Array[]): Uint8Array {
  const buf = new Uint8Array(chunkHashes.length * 32);
  for (let i = 0; i < chunkHashes.length; i++) buf.set(chunkHashes[i]!, i * 32);
  return keyed(buf, VERIFICATION_KEY);
}

/** HMAC of a chunk hash as the dedup shards carry it (keyed BLAKE3). */
export function chunkHmac(hash: Uint8Array, key: Uint8Array): Uint8Array {
  return keyed(hash, Buffer.from(key.buffer, key.byteOffset, key.byteLength));
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
