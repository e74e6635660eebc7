/**
 * Frame memory's debug mode (NUSOMI_DEBUG_BUFFERS=1, on for the whole test run): a writer that keeps
 * a frame past `add()` without retaining it fails loudly, where without debug mode it would write
 * whatever frame the reader put in that slot next. A writer that retains (the media arena) writes
 * the right bytes. The convert protocol is followed exactly: `await writer.add(row)`, then the
 * owner's `releaseFrame`.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaArena, POISON_BYTE, debugBuffersOn, releaseFrame } from '../src/buffers/index.ts';
import { LocalSink } from '../src/sink/local.ts';
import { LocalSource } from '../src/source/local.ts';
import type { SplitWriter, WrittenFile } from '../src/write/shards.ts';
import { noise, sha } from './helpers/bytes.ts';

interface Row {
  image: { bytes: Uint8Array; path: string };
}

/** Buffers every row and writes the frames, concatenated, in finish(). */
function bufferingWriter(sink: LocalSink, name: string, arena?: MediaArena): SplitWriter<Row> {
  const kept: Row['image'][] = [];
  return {
    async add(row) {
      // The bug under test: keeping row.image.bytes without a reference (unless the arena holds it).
      kept.push(arena ? (arena.hold(row.image) as Row['image']) : row.image);
    },
    async finish(): Promise<WrittenFile[]> {
      const out = await sink.create(name);
      for (const image of kept) await out.write(image.bytes);
      const { bytes, sha256 } = await out.commit();
      arena?.reset();
      return [{ path: name, format: 'jsonl-frame', split: 'train', rows: kept.length, bytes, sha256 }];
    },
    async abort() {},
  };
}

let tmp: string;
let files: Uint8Array[];
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'nusomi-buffers-debug-'));
  await mkdir(path.join(tmp, 'frames'));
  // Large frames (written by reference) and small ones (copied by the sink).
  files = Array.from({ length: 24 }, (_, i) => noise(i % 2 ? 150_000 + i : 20_000 + i, i + 1));
  await Promise.all(files.map((b, i) => writeFile(path.join(tmp, 'frames', `${i}.webp`), b)));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function feed(writer: SplitWriter<Row>, only: (i: number) => boolean): Promise<Uint8Array[]> {
  const source = new LocalSource(path.join(tmp, 'frames'));
  const fed: Uint8Array[] = [];
  for (let i = 0; i < files.length; i++) {
    if (!only(i)) continue;
    const bytes = await source.readFrame(`${i}.webp`);
    await writer.add({ image: { bytes, path: `${i}.webp` } });
    releaseFrame(bytes); // the owner's reference, as convert does after add()
    fed.push(files[i]!);
  }
  return fed;
}

describe('frame memory debug mode', () => {
  it('is on in the tests', () => {
    expect(debugBuffersOn()).toBe(true);
  });

  it('a writer that keeps large frames past add() without retaining them fails loudly', async () => {
    const sink = new LocalSink(path.join(tmp, 'out'));
    const writer = bufferingWriter(sink, 'large.bin');
    await feed(writer, (i) => i % 2 === 1);
    await expect(writer.finish()).rejects.toThrow(/frame memory used after its release .*without retain\(\)/);
  });

  it('a writer that keeps small frames (which the sink would copy) past add() fails loudly too', async () => {
    const sink = new LocalSink(path.join(tmp, 'out'));
    const writer = bufferingWriter(sink, 'small.bin');
    await feed(writer, (i) => i % 2 === 0);
    await expect(writer.finish()).rejects.toThrow(/frame memory used after its release/);
  });

  it('the released slot holds the poison byte, not a frame', async () => {
    const source = new LocalSource(path.join(tmp, 'frames'));
    const bytes = await source.readFrame('1.webp');
    expect(sha(bytes)).toBe(sha(files[1]!));
    releaseFrame(bytes);
    expect(bytes.every((b) => b === POISON_BYTE)).toBe(true);
  });

  it('a writer that retains its frames (the media arena) writes every frame exactly', async () => {
    const sink = new LocalSink(path.join(tmp, 'out'));
    const arena = new MediaArena();
    await arena.begin();
    const writer = bufferingWriter(sink, 'retained.bin', arena);
    const fed = await feed(writer, () => true);
    const [file] = await writer.finish();
    const expected = Buffer.concat(fed);
    expect(file!.sha256).toBe(sha(expected));
    expect(sha(new Uint8Array(await readFile(path.join(tmp, 'out', 'retained.bin'))))).toBe(sha(expected));
  });
});
