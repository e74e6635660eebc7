/**
 * WebDataset shards checked with the tools users read them with: Python tarfile, GNU tar,
 * datasets.load_dataset("webdataset"), and a plain PyTorch IterableDataset under DataLoader workers.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalSink } from '../src/sink/local.ts';
import { planShards } from '../src/write/shard-plan.ts';
import { sampleKey } from '../src/write/wds-keys.ts';
import { jsonSafe, writeWebDataset, type WdsSample, type WdsShardInfo } from '../src/write/webdataset.ts';
import { writeWidsIndex } from '../src/write/wids-index.ts';
import { runPython } from './helpers/python.ts';

const run = promisify(execFile);
const MTIME = 1_760_000_000; // the export's created_at, in seconds
const FRAME_W = 48;
const FRAME_H = 30;

// Hostile ids on purpose: dots, slashes, leading _ and ., spaces, unicode, and `a.b` vs `a_b`.
const SESSIONS: [string, number][] = [
  ['ses_01HXYAB', 9],
  ['a.b', 8],
  ['a_b', 8],
  ['a/b', 7],
  ['_x', 8],
  ['.x', 7],
  ['a b', 7],
  ['séssion-ü', 7],
]; // 61 steps
const TEST_SESSIONS: [string, number][] = [
  ['t.1', 6],
  ['t.2', 7],
]; // 13 steps

let frames: Uint8Array[] = [];

async function makeFrames(): Promise<Uint8Array[]> {
  const colors = [
    { r: 200, g: 30, b: 30 },
    { r: 30, g: 200, b: 30 },
    { r: 30, g: 30, b: 200 },
    { r: 220, g: 220, b: 40 },
  ];
  return Promise.all(
    colors.map(
      async (background) =>
        new Uint8Array(
          await sharp({ create: { width: FRAME_W, height: FRAME_H, channels: 3, background } })
            .webp({ quality: 80 })
            .toBuffer(),
        ),
    ),
  );
}

/** A record shaped like a steps row minus the image (the other engineer's StepsRow), with a bigint t_ms. */
function stepsRow(session: string, step: number): Record<string, unknown> {
  const action = (i: number) => ({
    type: i % 2 ? 'click' : 'input_text',
    type_id: i % 2 ? 0 : 4,
    x: 10 + i,
    y: 5 + i,
    x_norm: (10 + i + 0.5) / FRAME_W,
    y_norm: (5 + i + 0.5) / FRAME_H,
    target: { role: 'button', name: `Save ${i}` },
    text: i % 2 ? '' : `typed ${i}`,
    args: '{}',
  });
  return {
    session_id: session,
    step,
    t_ms: 1_760_000_000_000n + BigInt(step * 250),
    viewport: { w: 1440, h: 900 },
    action: action(step),
    prior_action: step === 0 ? null : action(step - 1),
    workflow: 'checkout',
    outcome: 'success',
    outcome_id: 0,
    dom: '<html/>',
    accessibility_tree: 'tree',
    extra: '{"k":"ü"}',
  };
}

async function* samplesOf(sessions: [string, number][]): AsyncGenerator<WdsSample> {
  let n = 0;
  for (const [session, steps] of sessions) {
    for (let step = 0; step < steps; step++) {
      yield { key: sampleKey(session, step), image: { bytes: frames[n++ % frames.length]!, ext: 'webp' }, json: stepsRow(session, step) };
    }
  }
}

function total(sessions: [string, number][]): number {
  return sessions.reduce((a, [, n]) => a + n, 0);
}

async function writeAll(root: string, sidecarMp: boolean): Promise<{ train: WdsShardInfo[]; test: WdsShardInfo[] }> {
  const sink = new LocalSink(root);
  const trainPlan = planShards({ totalSamples: total(SESSIONS), approxBytesPerSample: 2048, minShards: 6 }); // world 2 × workers 3
  const testPlan = planShards({ totalSamples: total(TEST_SESSIONS), approxBytesPerSample: 2048, shardSamples: 5 });
  const train = await writeWebDataset(samplesOf(SESSIONS), {
    sink,
    split: 'train',
    totalSamples: total(SESSIONS),
    plan: trainPlan,
    mtime: MTIME,
    sidecarMp,
  });
  const test = await writeWebDataset(samplesOf(TEST_SESSIONS), {
    sink,
    split: 'test',
    totalSamples: total(TEST_SESSIONS),
    plan: testPlan,
    mtime: MTIME,
    sidecarMp,
  });
  await writeWidsIndex(sink, 'train', train);
  await writeWidsIndex(sink, 'test', test);
  return { train, test };
}

let tmp = '';
let out = '';
let shards: { train: WdsShardInfo[]; test: WdsShardInfo[] };
const abs = (s: WdsShardInfo) => path.join(out, s.path);

beforeAll(async () => {
  frames = await makeFrames();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'wds-readers-'));
  out = path.join(tmp, 'out');
  shards = await writeAll(out, true);
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('WebDataset shards', () => {
  it('plans ≥ 6 equal shards for world size 2 × 3 workers, and honours --shard-samples for test', () => {
    const rows = shards.train.map((s) => s.rows);
    expect(rows.length).toBeGreaterThanOrEqual(6);
    expect(rows.length % 6).toBe(0);
    expect(Math.max(...rows) - Math.min(...rows)).toBeLessThanOrEqual(1);
    expect(rows.reduce((a, b) => a + b)).toBe(61);
    expect(shards.test.map((s) => s.rows)).toEqual([5, 4, 4]);
    expect(shards.train.map((s) => s.path)).toEqual(rows.map((_, i) => `webdataset/train-00000${i}.tar`));
  });

  it('Python tarfile and GNU tar see plain ustar members with fixed metadata, adjacent per sample', async () => {
    const files = [...shards.train, ...shards.test].map(abs);
    const r = await runPython<{
      shards: { names: string[]; bad: string[]; typeflags: string[]; magics: string[]; end_ok: boolean; groups: number; size: number }[];
      nonadjacent: string[];
      extsets: string[][];
    }>(
      `
import json, sys, tarfile, os
files = sys.argv[1:]
seen_keys, nonadjacent, extsets, out = set(), [], set(), []
for f in files:
    bad, names = [], []
    with tarfile.open(f, mode="r:") as t:
        for m in t:
            names.append(m.name)
            if not m.isreg(): bad.append("notreg " + m.name)
            if m.pax_headers: bad.append("pax " + m.name)
            if (m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) != (0o644, 0, 0, "", "", ${MTIME}):
                bad.append("meta " + m.name + " " + repr((oct(m.mode), m.uid, m.gid, m.uname, m.gname, m.mtime)))
    # Raw headers: every header block's typeflag and magic, and two zero blocks at the end.
    raw = open(f, "rb").read()
    off, typeflags, magics = 0, [], set()
    while off < len(raw) and raw[off:off+512] != bytes(512):
        h = raw[off:off+512]
        typeflags.append(chr(h[156])); magics.add(h[257:265].hex())
        size = int(h[124:136].rstrip(b"\\0 ").decode(), 8)
        off += 512 + (size + 511) // 512 * 512
    end_ok = raw[off:] == bytes(1024)
    # Group members as webdataset does: key = up to the first dot of the basename.
    groups, prev = [], None
    for n in names:
        key, ext = n.split(".", 1)
        if key != prev:
            if key in seen_keys: nonadjacent.append(key)
            seen_keys.add(key); groups.append([key, []]); prev = key
        groups[-1][1].append(ext)
    for _, exts in groups: extsets.add(tuple(exts))
    out.append({"names": names, "bad": bad, "typeflags": sorted(set(typeflags)), "magics": sorted(magics),
                "end_ok": end_ok, "groups": len(groups), "size": os.path.getsize(f)})
print(json.dumps({"shards": out, "nonadjacent": nonadjacent, "extsets": [list(e) for e in extsets]}))
`,
      { args: files },
    );
    const all = [...shards.train, ...shards.test];
    r.shards.forEach((s, i) => {
      expect(s.bad).toEqual([]);
      expect(s.typeflags).toEqual(['0']); // no 'x' (PAX), 'L' (GNU long name) or others
      expect(s.magics).toEqual([Buffer.from('ustar\u000000').toString('hex')]);
      expect(s.end_ok).toBe(true);
      expect(s.groups).toBe(all[i]!.rows);
      expect(s.size).toBe(all[i]!.bytes);
      expect(s.names[0]).toBe(`${all[i]!.first_key}.json`);
      expect(s.names.at(-1)).toBe(`${all[i]!.last_key}.webp`);
      for (const n of s.names) expect(n.split('.').length, n).toBe(2); // no dot inside a key
    });
    expect(r.nonadjacent).toEqual([]);
    expect(r.extsets).toEqual([['json', 'mp', 'webp']]);

    // GNU tar agrees on names, permissions, owner and time.
    for (const [i, f] of files.entries()) {
      const { stdout, stderr } = await run('tar', ['--numeric-owner', '--full-time', '--utc', '-tvf', f], {
        env: { ...process.env, TZ: 'UTC' },
      });
      expect(stderr).toBe(''); // no "lone zero block" or header warnings
      const lines = stdout.trim().split('\n');
      expect(lines.map((l) => l.split(/\s+/).at(-1))).toEqual(r.shards[i]!.names);
      for (const l of lines) expect(l).toMatch(/^-rw-r--r-- 0\/0 +\d+ 2025-10-09 08:53:20 \S+$/);
    }
  });

  it('datasets.load_dataset("webdataset") reads exact counts, Image frames and the JSON as written', async () => {
    const r = await runPython<{
      num_rows: Record<string, number>;
      features: Record<string, string>;
      rows: Record<string, { key: string; size: number[]; json: unknown; mp_t_ms_type: string; mp: unknown }[]>;
    }>(
      `
import json, sys, datasets
train, test, cache = sys.argv[1].split(","), sys.argv[2].split(","), sys.argv[3]
ds = datasets.load_dataset("webdataset", data_files={"train": train, "test": test}, cache_dir=cache)
out = {"num_rows": {k: v.num_rows for k, v in ds.items()},
       "features": {k: type(v).__name__ for k, v in ds["train"].features.items()}, "rows": {}}
for split, d in ds.items():
    out["rows"][split] = [{"key": ex["__key__"], "size": list(ex["webp"].size), "json": ex["json"],
                           "mp_t_ms_type": type(ex["mp"]["t_ms"]).__name__, "mp": ex["mp"]} for ex in d]
print(json.dumps(out))
`,
      { args: [shards.train.map(abs).join(','), shards.test.map(abs).join(','), path.join(tmp, 'hf-cache')] },
    );
    expect(r.num_rows).toEqual({ train: 61, test: 13 });
    expect(r.features.webp).toBe('Image');
    for (const [split, sessions] of [
      ['train', SESSIONS],
      ['test', TEST_SESSIONS],
    ] as const) {
      const expected = new Map<string, unknown>();
      for (const [session, steps] of sessions)
        for (let s = 0; s < steps; s++) expected.set(sampleKey(session, s), jsonSafe(stepsRow(session, s), ''));
      const rows = r.rows[split]!;
      expect(rows.map((x) => x.key)).toEqual([...expected.keys()]);
      for (const row of rows) {
        expect(row.size).toEqual([FRAME_W, FRAME_H]);
        expect(row.json, row.key).toEqual(expected.get(row.key));
        expect(row.mp, row.key).toEqual(expected.get(row.key));
        expect(row.mp_t_ms_type).toBe('int');
      }
    }
    // The original ids survive in the JSON although keys are rewritten.
    expect(new Set(r.rows.train!.map((x) => (x.json as { session_id: string }).session_id))).toEqual(new Set(SESSIONS.map(([s]) => s)));
  });

  it('a plain PyTorch IterableDataset over the shards yields every sample once with DataLoader(num_workers=2)', async () => {
    const r = await runPython<{ keys: string[]; workers: number[] }>(
      `
import json, sys, tarfile
import torch
from torch.utils.data import IterableDataset, DataLoader, get_worker_info

class Shards(IterableDataset):
    def __init__(self, urls): self.urls = urls
    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        for url in self.urls[wid::nw]:
            with tarfile.open(url, mode="r|") as t:
                key, sample = None, {}
                for m in t:
                    k, ext = m.name.split(".", 1)
                    if key is not None and k != key:
                        yield key, wid, sorted(sample)
                        sample = {}
                    key = k
                    sample[ext] = t.extractfile(m).read()
                if key is not None: yield key, wid, sorted(sample)

if __name__ == "__main__":
    loader = DataLoader(Shards(sys.argv[1:]), batch_size=None, num_workers=2)
    keys, workers = [], []
    for key, wid, exts in loader:
        assert exts == ["json", "mp", "webp"], exts
        keys.append(key); workers.append(int(wid))
    print(json.dumps({"keys": keys, "workers": sorted(set(workers))}))
`,
      { args: shards.train.map(abs) },
    );
    const expected = SESSIONS.flatMap(([s, n]) => Array.from({ length: n }, (_, i) => sampleKey(s, i)));
    expect(r.keys.length).toBe(61);
    expect([...r.keys].sort()).toEqual([...expected].sort());
    expect(r.workers).toEqual([0, 1]);
  });

  it('the wids index matches the shards and the returned sha256 values match the files', async () => {
    for (const split of ['train', 'test'] as const) {
      const index = JSON.parse(await readFile(path.join(out, `webdataset/${split}.index.json`), 'utf8'));
      expect(index.__kind__).toBe('wids-shard-index-v1');
      expect(index.wids_version).toBe(1);
      expect(index.name).toBe(split);
      expect(index.shardlist).toEqual(shards[split].map((s) => ({ url: path.basename(s.path), nsamples: s.rows, filesize: s.bytes })));
      for (const s of shards[split]) {
        const bytes = await readFile(abs(s));
        expect(bytes.length).toBe(s.bytes);
        expect(createHash('sha256').update(new Uint8Array(bytes)).digest('hex')).toBe(s.sha256);
      }
    }
    // What wids does with the index: resolve urls against its directory, map indices by cumsum.
    const r = await runPython<{ total: number; resolved: boolean[] }>(
      `
import json, os, sys, tarfile
idx_path = sys.argv[1]
idx = json.load(open(idx_path))
base = os.path.dirname(idx_path)
resolved, total = [], 0
for sh in idx["shardlist"]:
    p = os.path.join(base, sh["url"])
    with tarfile.open(p) as t: keys = {m.name.split(".", 1)[0] for m in t}
    resolved.append(os.path.getsize(p) == sh["filesize"] and len(keys) == sh["nsamples"])
    total += sh["nsamples"]
print(json.dumps({"total": total, "resolved": resolved}))
`,
      { args: [path.join(out, 'webdataset/train.index.json')] },
    );
    expect(r.total).toBe(61);
    expect(r.resolved.every(Boolean)).toBe(true);
  });

  it('two runs give byte-identical shards and indexes', async () => {
    const again = path.join(tmp, 'again');
    const second = await writeAll(again, true);
    expect(second).toEqual(shards);
    const names = (await readdir(path.join(out, 'webdataset'))).sort();
    expect((await readdir(path.join(again, 'webdataset'))).sort()).toEqual(names);
    for (const n of names) {
      const [a, b] = await Promise.all([readFile(path.join(out, 'webdataset', n)), readFile(path.join(again, 'webdataset', n))]);
      expect(new Uint8Array(a).every((x, i) => x === b[i]) && a.length === b.length, n).toBe(true);
    }
  });
});
