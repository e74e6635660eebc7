/**
 * The WebDataset writer's parts: sample keys, the shard plan, the ustar bytes (against Python's own
 * tarfile writer) and the writer's errors, which must leave no file under a final name.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../src/errors.ts';
import { LocalSink } from '../src/sink/local.ts';
import type { OutputFile } from '../src/sink/types.ts';
import { planShards } from '../src/write/shard-plan.ts';
import { TarWriter, ustarHeader } from '../src/write/tar.ts';
import { keyProblem, safeSessionId, sampleKey } from '../src/write/wds-keys.ts';
import { WebDatasetWriter, writeWebDataset, type WdsSample } from '../src/write/webdataset.ts';
import { buildWidsIndex } from '../src/write/wids-index.ts';
import { runPython } from './helpers/python.ts';

let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wds-unit-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('sampleKey', () => {
  it('keeps safe ids and zero-pads the step', () => {
    expect(sampleKey('ses_01HXY', 7)).toBe('ses_01HXY__000007');
    expect(sampleKey('ses-1', 1234567)).toBe('ses-1__1234567');
  });

  it('makes hostile ids safe and keeps them distinct', () => {
    const hostile = [
      'a.b',
      'a/b',
      'a_b',
      'a-b',
      'a b',
      'a:b',
      '_x',
      '.x',
      'x',
      '-x',
      '__x__',
      '',
      '..',
      'séssion',
      'sèssion',
      '会话',
      'a--b',
      'a_b--' + 'x'.repeat(12),
      'x'.repeat(64),
      'x'.repeat(65),
      'x'.repeat(200),
      'x'.repeat(199) + 'y',
      'a\u0000b',
      'a\nb',
    ];
    const keys = hostile.map((id) => sampleKey(id, 3));
    expect(new Set(keys).size).toBe(hostile.length);
    for (const [i, k] of keys.entries()) {
      expect(keyProblem(k), `${JSON.stringify(hostile[i])} -> ${k}`).toBeNull();
      expect(k.length + '.webp'.length).toBeLessThan(100);
      expect(k).toMatch(/__000003$/);
    }
    // Rewritten ids carry a stable hash; verbatim ones never contain `--`.
    expect(safeSessionId('a.b')).toMatch(/^a_b--[0-9a-f]{12}$/);
    expect(safeSessionId('a.b')).toBe(safeSessionId('a.b'));
    expect(safeSessionId('a_b')).toBe('a_b');
    expect(safeSessionId('a--b')).not.toBe('a--b');
  });

  it('is injective over (session, step) even when ids end in digits or underscores', () => {
    const ids = ['x', 'x_', 'x__', 'x__1', 'x__000001', 'x_1', '1'];
    const seen = new Map<string, string>();
    for (const id of ids)
      for (const step of [0, 1, 10, 1_000_000]) {
        const k = sampleKey(id, step);
        expect(seen.get(k), k).toBeUndefined();
        seen.set(k, `${id}/${step}`);
      }
    expect(() => sampleKey('x', -1)).toThrow(InputError);
    expect(() => sampleKey('x', 1.5)).toThrow(/session x/);
  });
});

describe('planShards', () => {
  const spread = (p: number[]) => Math.max(...p) - Math.min(...p);

  it('gives ≥ 6 shards that differ by ≤ 1 for world size 2 × 3 workers on 61 samples', () => {
    const p = planShards({ totalSamples: 61, approxBytesPerSample: 150_000, minShards: 6 });
    expect(p).toEqual([11, 10, 10, 10, 10, 10]);
  });

  it('holds its promises over many sizes', () => {
    for (let total = 0; total <= 400; total += total < 40 ? 1 : 7) {
      for (const minShards of [undefined, 1, 2, 3, 6, 8]) {
        for (const shardSamples of [undefined, 1, 7, 50]) {
          for (const approx of [0, 1000, 150_000]) {
            const opts = { totalSamples: total, approxBytesPerSample: approx, shardBytes: 1_000_000, shardSamples, minShards };
            const label = JSON.stringify(opts);
            if (minShards !== undefined && total < minShards) {
              expect(() => planShards(opts), label).toThrow(UsageError);
              continue;
            }
            const p = planShards(opts);
            expect(
              p.reduce((a, b) => a + b, 0),
              label,
            ).toBe(total);
            if (total === 0) {
              expect(p, label).toEqual([]);
              continue;
            }
            expect(Math.min(...p), label).toBeGreaterThan(0);
            expect(spread(p), label).toBeLessThanOrEqual(1);
            // The larger shards come first, so each (rank, worker) slot gets a fair share.
            expect(
              [...p].sort((a, b) => b - a),
              label,
            ).toEqual(p);
            if (minShards !== undefined) {
              expect(p.length, label).toBeGreaterThanOrEqual(minShards);
              expect(p.length % minShards, label).toBe(0);
              const perSlot = Array.from({ length: minShards }, (_, slot) =>
                p.filter((_, i) => i % minShards === slot).reduce((a, b) => a + b, 0),
              );
              expect(spread(perSlot), label).toBeLessThanOrEqual(1);
            }
            // Size limits hold unless balance forced fewer shards (rounding down to a multiple of N).
            const roundedDown = minShards !== undefined && p.length === Math.floor(total / minShards) * minShards;
            if (!roundedDown) {
              if (shardSamples) expect(Math.max(...p), label).toBeLessThanOrEqual(shardSamples);
              if (approx > 0) expect(Math.max(...p) * approx, label).toBeLessThanOrEqual(Math.max(1_000_000, approx));
            }
          }
        }
      }
    }
  });

  it('fills shards up to --shard-bytes and explains a split too small for the ranks × workers', () => {
    expect(planShards({ totalSamples: 10, approxBytesPerSample: 100, shardBytes: 300 })).toEqual([3, 3, 2, 2]);
    expect(planShards({ totalSamples: 10, approxBytesPerSample: 100 })).toEqual([10]);
    expect(() => planShards({ totalSamples: 5, approxBytesPerSample: 100, minShards: 6, split: 'test' })).toThrow(
      /split test: 5 samples cannot fill 6 shards .*DDP rank or DataLoader worker would get no shard/,
    );
  });
});

/** An OutputFile in memory, for the tar bytes alone. */
function memoryFile(): OutputFile & { bytes(): Uint8Array } {
  const parts: Uint8Array[] = [];
  return {
    path: 'mem.tar',
    async write(c) {
      parts.push(c.slice());
    },
    async commit() {
      return { bytes: 0, sha256: '' };
    },
    async abort() {},
    bytes: () => {
      const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
      let off = 0;
      for (const p of parts) {
        all.set(p, off);
        off += p.length;
      }
      return all;
    },
  };
}

describe('ustar bytes', () => {
  it('equal what Python tarfile writes in USTAR format with the same metadata (before its record padding)', async () => {
    const members: [string, Uint8Array][] = [
      ['k__000000.json', new TextEncoder().encode('{"a":1}')],
      ['k__000000.webp', new Uint8Array(512).fill(7)],
      ['k__000001.json', new Uint8Array(0)],
      ['k__000001.webp', new Uint8Array(1 << 20).fill(3)], // written through, not coalesced
      ['dir/' + 'n'.repeat(90) + '.x', new Uint8Array(513).fill(1)],
    ];
    const f = memoryFile();
    const tar = new TarWriter(f, 1_760_000_000);
    for (const [n, d] of members) await tar.add(n, d);
    await tar.finish();
    const ours = f.bytes();
    expect(ours.length).toBe(tar.bytes);
    expect(ours.length % 512).toBe(0);
    const theirs = await runPython<{ hex: string; len: number }>(
      `
import io, json, sys, tarfile
specs = json.loads(sys.argv[1])
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    for name, size, fill in specs:
        ti = tarfile.TarInfo(name); ti.size = size; ti.mode = 0o644; ti.mtime = 1760000000
        ti.uid = ti.gid = 0; ti.uname = ti.gname = ""
        t.addfile(ti, io.BytesIO(bytes([fill]) * size) if fill is not None else io.BytesIO(b'{"a":1}'))
raw = buf.getvalue()
import hashlib
print(json.dumps({"len": len(raw), "hex": raw.hex()}))
`,
      { args: [JSON.stringify(members.map(([n, d], i) => [n, d.length, i === 0 ? null : (d[0] ?? 0)]))] },
    );
    const py = Buffer.from(theirs.hex, 'hex');
    expect(new Uint8Array(py.subarray(0, ours.length)).every((b, i) => b === ours[i])).toBe(true);
    expect(py.subarray(ours.length).every((b) => b === 0)).toBe(true); // Python pads to 10240
  });

  it('rejects names a plain ustar name field cannot hold', () => {
    expect(() => ustarHeader('n'.repeat(100), 1, 0)).toThrow(/under 100/);
    expect(() => ustarHeader('é.json', 1, 0)).toThrow(/ASCII/);
    expect(() => ustarHeader('/abs.json', 1, 0)).toThrow(/relative/);
    expect(() => new TarWriter(memoryFile(), 1.5)).toThrow(/integer/);
  });
});

describe('writeWebDataset errors', () => {
  const img = { bytes: new Uint8Array([82, 73, 70, 70]), ext: 'webp' as const };
  async function* from(list: WdsSample[]): AsyncGenerator<WdsSample> {
    yield* list;
  }
  const sample = (key: string, json: Record<string, unknown> = { v: 1 }, ext: 'webp' | 'png' | 'jpg' = 'webp'): WdsSample => ({
    key,
    image: { ...img, ext },
    json,
  });

  async function attempt(name: string, list: WdsSample[], plan: number[], totalSamples = list.length) {
    const root = path.join(tmp, name);
    const err = await writeWebDataset(from(list), { sink: new LocalSink(root), split: 'train', totalSamples, plan, mtime: 0 }).then(
      () => null,
      (e: unknown) => e,
    );
    const files = await readdir(path.join(root, 'webdataset')).catch(() => [] as string[]);
    return { err, files: files.sort() };
  }

  it.each([
    ['dot', [sample('a__000000'), sample('a.b__000001')], [2], /a\.b__000001.*only A-Z/],
    ['leading underscore', [sample('_a__000000')], [1], /must not start with _/],
    ['duplicate', [sample('a__000000'), sample('a__000000')], [2], /duplicate sample key a__000000 in split train/],
    ['session split apart', [sample('a__000000'), sample('b__000000'), sample('a__000001')], [3], /session a appeared earlier/],
    ['mixed frame formats', [sample('a__000000'), sample('a__000001', {}, 'png')], [2], /frame is \.png but earlier frames .* are \.webp/],
    ['too long', [sample('k'.repeat(96))], [1], /under 100/],
    ['too long for .json only', [sample('a__000000', {}, 'jpg'), sample('k'.repeat(95), {}, 'jpg')], [2], /k{95}\.json is 100 bytes/],
    ['unsafe bigint', [sample('a__000000', { t_ms: 2n ** 60n })], [1], /member a__000000\.json: field t_ms = .* does not fit/],
    ['NaN', [sample('a__000000', { x: { y: Number.NaN } })], [1], /field x\.y is NaN/],
    ['bytes in json', [sample('a__000000', { b: new Uint8Array(1) })], [1], /field b is a Uint8Array/],
  ] as const)('%s: an InputError naming the member, and no shard under a final name', async (name, list, plan, message) => {
    const r = await attempt(name.replace(/ /g, '-'), [...list], [...plan]);
    expect(r.err).toBeInstanceOf(InputError);
    expect((r.err as Error).message).toMatch(message);
    expect(r.files).toEqual([]); // neither the shard nor its temp file
  });

  it('too few samples: earlier complete shards stay, the unfinished one does not appear', async () => {
    const r = await attempt('short', [sample('a__000000'), sample('a__000001'), sample('a__000002')], [2, 2], 4);
    expect((r.err as Error).message).toMatch(/expected 4 samples, the input ended after 3/);
    expect(r.files).toEqual(['train-000000.tar']);
  });

  it('too many samples: the last shard is not committed', async () => {
    const r = await attempt('long', [sample('a__000000'), sample('a__000001'), sample('a__000002')], [2], 2);
    expect((r.err as Error).message).toMatch(/more than the 2 samples planned/);
    expect(r.files).toEqual([]);
  });

  it('a plan that does not add up, or a bad split name, is a UsageError before anything is written', async () => {
    const r = await attempt('plan', [sample('a__000000')], [2], 1);
    expect(r.err).toBeInstanceOf(UsageError);
    const bad = await writeWebDataset(from([]), {
      sink: new LocalSink(path.join(tmp, 'split')),
      split: 'train/x',
      totalSamples: 0,
      plan: [],
      mtime: 0,
    }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(UsageError);
  });

  it('push style: shards commit as the next one starts, and a failed writer refuses more samples', async () => {
    const root = path.join(tmp, 'push');
    const w = new WebDatasetWriter({ sink: new LocalSink(root), split: 'train', totalSamples: 3, plan: [2, 1], mtime: 0 });
    await w.add(sample('a__000000'));
    await w.add(sample('a__000001'));
    expect(await readdir(path.join(root, 'webdataset')).then((f) => f.filter((n) => !n.startsWith('.')))).toEqual([]);
    await w.add(sample('b__000000'));
    expect(await readdir(path.join(root, 'webdataset')).then((f) => f.filter((n) => !n.startsWith('.')))).toEqual(['train-000000.tar']);
    await expect(w.add(sample('b__000001'))).rejects.toThrow(/more than the 3 samples planned/);
    await expect(w.finish()).rejects.toThrow(/failed earlier/);
    await w.abort();
    expect(await readdir(path.join(root, 'webdataset'))).toEqual(['train-000000.tar']);
  });

  it('records rows, first/last key and a wids index entry per shard', async () => {
    const list = ['a', 'b', 'c'].flatMap((s) => [0, 1].map((i) => sample(`${s}__00000${i}`)));
    const shards = await writeWebDataset(from(list), {
      sink: new LocalSink(path.join(tmp, 'ok')),
      split: 'validation',
      totalSamples: 6,
      plan: [3, 3],
      mtime: 0,
    });
    expect(shards.map((s) => [s.path, s.rows, s.first_key, s.last_key])).toEqual([
      ['webdataset/validation-000000.tar', 3, 'a__000000', 'b__000000'],
      ['webdataset/validation-000001.tar', 3, 'b__000001', 'c__000001'],
    ]);
    const raw = await readFile(path.join(tmp, 'ok', shards[1]!.path));
    expect(raw.length).toBe(shards[1]!.bytes);
    expect(buildWidsIndex('validation', shards).shardlist).toEqual([
      { url: 'validation-000000.tar', nsamples: 3, filesize: shards[0]!.bytes },
      { url: 'validation-000001.tar', nsamples: 3, filesize: shards[1]!.bytes },
    ]);
  });
});
