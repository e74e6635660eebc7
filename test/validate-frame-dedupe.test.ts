/**
 * Duplicate frames across splits are found by fingerprint, then confirmed byte for byte: a frame
 * whose fingerprint matches (same size, same first and last 2 KB) but whose bytes differ is not a
 * duplicate, and an identical frame is reported with its full sha256 — end to end on converted
 * shards, and on FrameDedupe itself with and without room to cache frames (re-read + hash path).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSource } from '../src/source/local.ts';
import { FrameDedupe } from '../src/validate/frame-dedupe.ts';
import { validate } from '../src/validate/validate.ts';
import { ustarHeader } from '../src/write/tar.ts';
import { runCliSync } from './helpers/cli.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Member {
  name: string;
  data: Uint8Array;
}

function readTar(buf: Uint8Array): Member[] {
  const out: Member[] = [];
  for (let off = 0; off + 512 <= buf.length; ) {
    const h = buf.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = Buffer.from(h.subarray(0, 100)).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(Buffer.from(h.subarray(124, 136)).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    out.push({ name, data: buf.slice(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

function writeTar(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members)
    parts.push(ustarHeader(m.name, m.data.length, 1_700_000_000), m.data, new Uint8Array((512 - (m.data.length % 512)) % 512));
  parts.push(new Uint8Array(1024));
  return new Uint8Array(Buffer.concat(parts));
}

/** The same bytes with one byte in the middle changed: same size, same first and last 2 KB. */
function nearCopy(b: Uint8Array): Uint8Array {
  expect(b.length).toBeGreaterThan(3 * 4096);
  const c = b.slice();
  c[c.length >> 1] ^= 0xff;
  return c;
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-dedupe-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('validate: duplicate frames across splits', () => {
  it('reports an identical frame with its sha256, not a frame that only shares the fingerprint', async () => {
    const out = path.join(tmp, 'ds');
    const r = runCliSync([
      'convert',
      'samples/jsonl',
      '--out',
      out,
      '--formats',
      'webdataset',
      '--split',
      'train=0.5,test=0.5',
      '--seed',
      '1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const trainPath = path.join(out, 'webdataset', 'train-000000.tar');
    const testPath = path.join(out, 'webdataset', 'test-000000.tar');
    const train = readTar(await readFile(trainPath));
    const test = readTar(await readFile(testPath));
    const webp = (ms: Member[]) => ms.filter((m) => m.name.endsWith('.webp'));
    const [t0, t1] = webp(test);
    // Plant into train frames of the same size (else size and coordinate checks fire too).
    const dims = async (m: Member) => {
      const md = await sharp(m.data).metadata();
      return `${md.width}x${md.height}`;
    };
    const want = await dims(t0!);
    expect(await dims(t1!)).toBe(want);
    const same: Member[] = [];
    for (const m of webp(train)) if (same.length < 2 && (await dims(m)) === want) same.push(m);
    const [r0, r1] = same;
    expect(r1).toBeDefined();
    // The clean shards have no duplicate frames; plant two into train (validated after test: splits sort by name).
    const clean = await validate([testPath, trainPath]);
    expect(clean.checks).toEqual([]);
    r0!.data = t0!.data.slice();
    r1!.data = nearCopy(t1!.data);
    await writeFile(trainPath, writeTar(train));

    const rep = await validate([testPath, trainPath]);
    expect(rep.checks.map((c) => c.id)).toEqual(['leakage.duplicate_frame']);
    const dup = rep.checks[0]!;
    expect(dup.count).toBe(1);
    expect(dup.examples).toHaveLength(1);
    expect(dup.examples[0]).toMatchObject({ file: 'train-000000.tar', member: r0!.name.replace(/\.webp$/, '.json') });
    expect(dup.examples[0]!.message).toContain(`sha256 ${sha(t0!.data).slice(0, 16)}…) is also in test`);
  }, 120_000);
});

describe('FrameDedupe', () => {
  for (const [label, budget] of [
    ['frames cached', 32 << 20],
    ['no cache: re-read and hash', 0],
  ] as const) {
    it(`compares bytes, not fingerprints (${label})`, async () => {
      const a = new Uint8Array(randomBytes(20_000));
      const a2 = nearCopy(a);
      const b = new Uint8Array(randomBytes(20_000));
      // One file holding a, a2, b back to back: frames are re-read from it by byte range.
      const dir = path.join(tmp, `frames-${budget}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'frames.bin'), Buffer.concat([a, a2, b]));
      const at = (i: number) => ({ file: 'frames.bin', start: i * 20_000, end: (i + 1) * 20_000 });
      const d = new FrameDedupe(new LocalSource(dir), budget);
      const ref = (bytes: Uint8Array, i: number) => ({ bytes: bytes.slice(), hash: null, at: at(i) });

      expect(await d.check('webdataset', 'test', ref(a, 0))).toBeNull();
      expect(await d.check('webdataset', 'test', ref(b, 2))).toBeNull();
      // Same fingerprint as a, other bytes: new content, first seen in train.
      expect(await d.check('webdataset', 'train', ref(a2, 1))).toBeNull();
      expect(await d.check('webdataset', 'train', ref(a, 0))).toEqual({ split: 'test', hash: sha(a).slice(0, 32) });
      expect(await d.check('webdataset', 'test', ref(a, 0))).toBeNull();
      expect(await d.check('webdataset', 'test', ref(a2, 1))).toEqual({ split: 'train', hash: sha(a2).slice(0, 32) });
      expect(await d.check('webdataset', 'train', ref(b, 2))).toEqual({ split: 'test', hash: sha(b).slice(0, 32) });
      // Another copy of the data (format) is checked on its own.
      expect(await d.check('parquet', 'train', { bytes: a.slice(), hash: null, at: null })).toBeNull();
      expect(await d.check('parquet', 'test', { bytes: a.slice(), hash: null, at: null })).toEqual({
        split: 'train',
        hash: sha(a).slice(0, 32),
      });
      // Frames hashed in the decode workers (--decode full) carry only their hash.
      expect(await d.check('arrow', 'train', { bytes: null, hash: sha(b).slice(0, 32), at: null })).toBeNull();
      expect(await d.check('arrow', 'test', { bytes: null, hash: sha(b).slice(0, 32), at: null })).toEqual({
        split: 'train',
        hash: sha(b).slice(0, 32),
      });
    });
  }
});
