/**
 * The local sink copies what it still has to write (callers reuse their buffers at once), except
 * large chunks in shared blocks, which it writes where they are, holding a reference until written
 * and hashed; it writes in order and hashes exactly the file. The local source's frame slots go back
 * to its reader for reuse once released by their owner (`releaseFrame`) and by the sink.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSink } from '../src/sink/local.ts';
import { releaseFrame, setDebugBuffers } from '../src/buffers/index.ts';
import { newSharedBlock, sharedBlockOf } from '../src/buffers/shared-block.ts';
import { LocalSource, slotsAtReader } from '../src/source/local.ts';
import { noise, sha } from './helpers/bytes.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'nusomi-sink-local-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('local sink', () => {
  it('lets the caller reuse its buffer as soon as write() resolves; the file is what was written', async () => {
    // 37 MB in chunks of odd sizes (tiny, block-spanning, larger than the whole write-behind).
    const data = noise(37 * 1024 * 1024 + 4321, 7);
    const sizes = [3, 1, 1_048_575, 2, 1_048_577, 70_000, 20 * 1024 * 1024, 511, 150_000];
    const sink = new LocalSink(path.join(tmp, 'reuse'));
    const f = await sink.create('data/a.bin');
    const reused = new Uint8Array(20 * 1024 * 1024);
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      const n = Math.min(sizes[i % sizes.length]!, data.length - off);
      reused.set(data.subarray(off, off + n));
      await f.write(reused.subarray(0, n));
      reused.fill(0xee, 0, n); // the sink must not read this after write() resolved
      off += n;
    }
    expect(await readdir(path.join(tmp, 'reuse/data'))).not.toContain('a.bin'); // visible only after commit
    const result = await f.commit();
    expect(result).toEqual({ bytes: data.length, sha256: sha(data) });
    const back = new Uint8Array(await readFile(path.join(tmp, 'reuse/data/a.bin')));
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
  });

  it('writes large chunks of a shared block where they are, held until written and hashed, then reusable', async () => {
    const data = noise(6 * 1024 * 1024 + 99, 3);
    const block = newSharedBlock(4 * 1024 * 1024);
    const sink = new LocalSink(path.join(tmp, 'shared'));
    const f = await sink.create('s.bin');
    let off = 0;
    let pinnedSeen = false;
    // Small pieces (copied) between large ones (by reference), refilling the block each round.
    for (const n of [5, 300_000, 7, 1_500_000, 64 * 1024, 1_000_000, 3, 2_000_000, 1_426_004]) {
      const piece = data.subarray(off, off + n);
      if (n < 64 * 1024) {
        await f.write(piece);
      } else {
        await block.whenReleased(); // the sink is done with the last round
        block.bytes.set(piece, 17);
        await f.write(block.bytes.subarray(17, 17 + n));
        pinnedSeen ||= block.references > 0;
      }
      off += n;
    }
    expect(off).toBe(data.length);
    expect(pinnedSeen).toBe(true); // it held the block instead of copying
    expect(await f.commit()).toEqual({ bytes: data.length, sha256: sha(data) });
    expect(block.references).toBe(0);
    expect(sha(new Uint8Array(await readFile(path.join(tmp, 'shared/s.bin'))))).toBe(sha(data));

    // abort() releases what it still held.
    const g = await sink.create('t.bin');
    await g.write(block.bytes.subarray(0, 1_000_000));
    await g.abort();
    expect(block.references).toBe(0);
  });

  it('abort() after writes leaves nothing behind, and the next file still writes correctly', async () => {
    const sink = new LocalSink(path.join(tmp, 'abort'));
    const f = await sink.create('x.bin');
    await f.write(noise(5 * 1024 * 1024, 1));
    await f.abort();
    expect(await readdir(path.join(tmp, 'abort'))).toEqual([]);
    const data = noise(3 * 1024 * 1024 + 17, 2);
    const g = await sink.create('y.bin');
    await g.write(data);
    expect(await g.commit()).toEqual({ bytes: data.length, sha256: sha(data) });
  });

  it('writeFile: small files (hashed here) and large ones (through the hash worker) land whole under their name, hashed alike', async () => {
    const sink = new LocalSink(path.join(tmp, 'whole'));
    for (const [name, data] of [
      ['empty.json', new Uint8Array()],
      ['plan.json', noise(37_000, 3)],
      ['at-limit.bin', noise(1 << 20, 4)],
      ['past-limit.bin', noise((1 << 20) + 1, 5)],
    ] as const) {
      expect(await sink.writeFile(`d/${name}`, data)).toEqual({ bytes: data.length, sha256: sha(data) });
      expect(sha(new Uint8Array(await readFile(path.join(tmp, 'whole/d', name))))).toBe(sha(data));
    }
    // Written again: replaced whole; no temp file is left beside them.
    const again = noise(1000, 6);
    expect(await sink.writeFile('d/plan.json', again)).toEqual({ bytes: again.length, sha256: sha(again) });
    expect(sha(new Uint8Array(await readFile(path.join(tmp, 'whole/d/plan.json'))))).toBe(sha(again));
    expect((await readdir(path.join(tmp, 'whole/d'))).sort()).toEqual(['at-limit.bin', 'empty.json', 'past-limit.bin', 'plan.json']);
  });
});

/** `count` files `{i}.webp` under a new folder of tmp. */
async function frameFiles(name: string, count: number, bytes: (i: number) => Uint8Array): Promise<{ dir: string; files: Uint8Array[] }> {
  const dir = path.join(tmp, name);
  await mkdir(dir, { recursive: true });
  const files = Array.from({ length: count }, (_, i) => bytes(i));
  await Promise.all(files.map((b, i) => writeFile(path.join(dir, `${i}.webp`), b)));
  return { dir, files };
}

describe('local source frame slots', () => {
  // Reuse is what these check; debug mode (on in the tests) never reuses a released slot.
  beforeAll(() => setDebugBuffers(false));
  afterAll(() => setDebugBuffers(process.env.NUSOMI_DEBUG_BUFFERS === '1'));

  it('readFrame reads into shared slots the sink writes without copying; a slot is reused only once the sink is done with it', async () => {
    const { dir, files } = await frameFiles('slots', 40, (i) => noise(100_000 + i * 1013, i + 50));
    const source = new LocalSource(dir);
    const sink = new LocalSink(path.join(tmp, 'slots-out'));
    const f = await sink.create('all.bin');
    const seen = new Set<ArrayBufferLike>();
    const written: Uint8Array[] = [];
    let reused = 0;
    let pinned = 0;
    // 6 rounds (~28 MB) outgrow the sink's write-behind, so slots must come back while it runs.
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < files.length; i++) {
        const bytes = await source.readFrame(`${i}.webp`);
        expect(sha(bytes)).toBe(sha(files[i]!));
        if (seen.has(bytes.buffer)) reused++;
        seen.add(bytes.buffer);
        await f.write(bytes);
        if (sharedBlockOf(bytes)!.references > 1) pinned++; // written by reference: the sink holds it too
        written.push(files[i]!);
        releaseFrame(bytes); // while the sink holds it, it goes back only once written and hashed
      }
    }
    expect(reused).toBeGreaterThan(0);
    expect(pinned).toBeGreaterThan(0);
    const all = Buffer.concat(written);
    expect(await f.commit()).toEqual({ bytes: all.length, sha256: sha(all) });
    expect(sha(new Uint8Array(await readFile(path.join(tmp, 'slots-out/all.bin'))))).toBe(sha(all));
  });

  it('slots the reader thread drops from its pool (more given back than it keeps) are let go here too', async () => {
    const { dir, files } = await frameFiles('many', 700, (i) => noise(1000 + i, i + 900));
    const source = new LocalSource(dir);
    const held: Uint8Array[] = [];
    for (let i = 0; i < files.length; i++) held.push(await source.readFrame(`${i}.webp`));
    for (const b of held) releaseFrame(b);
    // The next answer comes after the reader handled the recycled slots (messages stay in order).
    const again = await source.readFrame('3.webp');
    expect(sha(again)).toBe(sha(files[3]!));
    // The reader keeps at most 512; up to 7 more may wait here for the next batch to it.
    expect(slotsAtReader()).toBeLessThanOrEqual(512 + 7);
    expect(slotsAtReader()).toBeGreaterThan(0);
  });
});
