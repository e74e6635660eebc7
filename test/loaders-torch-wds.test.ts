/**
 * The generated torch-wds loader run with real torch: DataLoader workers, two ranks as two
 * processes (even and uneven shard counts), epochs, and a tampered shard.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { runPython, runPythonRaw } from './helpers/python.ts';
import { SPLIT_FLAGS, convertSample, importFrom, renderFor } from './loaders.fixture.ts';

let work: string;
/** 4 train shards of 10 (world 2 x workers 2). */
let even: string;
let evenManifest: DatasetManifest;
/** 3 train shards (14, 13, 13): a shard split by rank would give one rank twice the other's. */
let uneven: string;
let unevenManifest: DatasetManifest;
let evenLoaders: string;
let unevenLoaders: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'loaders-wds-'));
  even = path.join(work, 'even');
  uneven = path.join(work, 'uneven');
  [evenManifest, unevenManifest] = await Promise.all([
    convertSample(even, ['--formats', 'parquet,webdataset', ...SPLIT_FLAGS, '--world-size', '2', '--workers', '2']),
    convertSample(uneven, ['--formats', 'webdataset', ...SPLIT_FLAGS, '--min-shards', '3']),
  ]);
  evenLoaders = path.join(work, 'even-loaders');
  unevenLoaders = path.join(work, 'uneven-loaders');
  await renderFor({ source: even, out: evenLoaders, targets: ['torch-wds'] });
  await renderFor({ source: uneven, out: unevenLoaders, targets: ['torch-wds'] });
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const MOD = 'nusomi_process_invoice_torch_wds';

/** One process's keys for an epoch; DataLoader(num_workers=2) with the default transform + collate. */
const EPOCH_KEYS = (loaders: string, split: string, extra = ''): string => `${importFrom(loaders)}
import json, torch
from ${MOD} import WdsSteps, collate
ds = WdsSteps(${JSON.stringify(split)}, seed=7${extra})
out = {"len": len(ds), "epochs": []}
for epoch in (0, 1):
    ds.set_epoch(epoch)
    keys = []
    for b in torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate):
        assert b["image"].dtype == torch.uint8 and b["image"].shape[1] == 3
        keys += [f"{s}/{int(t)}" for s, t in zip(b["session_id"], b["step"])]
    out["epochs"].append(keys)
print(json.dumps(out))
`;

interface EpochKeys {
  len: number;
  epochs: string[][];
}

async function allKeys(dataset: string, split: string): Promise<string[]> {
  // The split's samples as the tar members name them (stdlib tarfile, independent of the loader).
  return runPython<string[]>(
    `
import json, sys, tarfile
m = json.load(open(sys.argv[1] + "/dataset-manifest.json"))
keys = []
for f in m["files"]:
    if f["format"] == "webdataset" and f["split"] == sys.argv[2] and f["path"].endswith(".tar"):
        for name in tarfile.open(sys.argv[1] + "/" + f["path"]).getnames():
            if name.endswith(".json"):
                d = json.load(tarfile.open(sys.argv[1] + "/" + f["path"]).extractfile(name))
                keys.append(f"{d['session_id']}/{d['step']}")
print(json.dumps(keys))
`,
    { args: [dataset, split] },
  );
}

function shardRows(m: DatasetManifest, split: string): number[] {
  return m.files.filter((f) => f.format === 'webdataset' && f.split === split && f.rows !== null).map((f) => f.rows as number);
}

async function twoRanks(loaders: string, dataset: string, split: string, extra = ''): Promise<EpochKeys[]> {
  const env = (rank: number): Record<string, string> => ({ RANK: String(rank), WORLD_SIZE: '2', NUSOMI_PROCESS_INVOICE_ROOT: dataset });
  return Promise.all([0, 1].map((r) => runPython<EpochKeys>(EPOCH_KEYS(loaders, split, extra), { env: env(r), timeoutMs: 240_000 })));
}

describe('torch-wds loader', () => {
  it('one process, DataLoader(num_workers=2): every train sample exactly once per epoch; epochs differ in order, not in set', async () => {
    expect(shardRows(evenManifest, 'train')).toEqual([10, 10, 10, 10]);
    const expected = await allKeys(even, 'train');
    expect(expected).toHaveLength(40);
    const r = await runPython<EpochKeys>(EPOCH_KEYS(evenLoaders, 'train'), {
      env: { NUSOMI_PROCESS_INVOICE_ROOT: even },
      timeoutMs: 240_000,
    });
    expect(r.len).toBe(40);
    for (const keys of r.epochs) {
      expect(keys).toHaveLength(40);
      expect([...keys].sort()).toEqual([...expected].sort());
    }
    expect(r.epochs[0]).not.toEqual(r.epochs[1]);
  }, 300_000);

  it('WORLD_SIZE=2 as two processes (4 shards): disjoint, equal counts, union = the split; set_epoch reshuffles', async () => {
    const expected = await allKeys(even, 'train');
    const [r0, r1] = await twoRanks(evenLoaders, even, 'train');
    for (const epoch of [0, 1]) {
      const a = r0!.epochs[epoch]!;
      const b = r1!.epochs[epoch]!;
      expect(a).toHaveLength(20);
      expect(b).toHaveLength(20);
      expect(a.filter((k) => b.includes(k))).toEqual([]);
      expect([...a, ...b].sort()).toEqual([...expected].sort());
    }
    expect(r0!.len).toBe(20);
    expect(r0!.epochs[0]).not.toEqual(r0!.epochs[1]);
  }, 300_000);

  it('uneven shards (14, 13, 13 over 2 ranks): still equal counts per rank, disjoint, union = the split', async () => {
    expect(shardRows(unevenManifest, 'train')).toEqual([14, 13, 13]);
    const expected = await allKeys(uneven, 'train');
    const [r0, r1] = await twoRanks(unevenLoaders, uneven, 'train');
    for (const epoch of [0, 1]) {
      const a = r0!.epochs[epoch]!;
      const b = r1!.epochs[epoch]!;
      expect(a.length).toBe(20);
      expect(b.length).toBe(20);
      expect(a.filter((k) => b.includes(k))).toEqual([]);
      expect([...a, ...b].sort()).toEqual([...expected].sort());
    }
  }, 300_000);

  it('an odd split over 2 ranks: pad repeats one sample to keep counts equal; drop skips one', async () => {
    const expected = await allKeys(uneven, 'validation');
    expect(expected).toHaveLength(9);
    const [p0, p1] = await twoRanks(unevenLoaders, uneven, 'validation');
    const padded = [...p0!.epochs[0]!, ...p1!.epochs[0]!];
    expect([p0!.epochs[0]!.length, p1!.epochs[0]!.length]).toEqual([5, 5]);
    expect(new Set(padded)).toEqual(new Set(expected));
    const [d0, d1] = await twoRanks(unevenLoaders, uneven, 'validation', ', equalize="drop"');
    const dropped = [...d0!.epochs[0]!, ...d1!.epochs[0]!];
    expect([d0!.len, d0!.epochs[0]!.length, d1!.epochs[0]!.length]).toEqual([4, 4, 4]);
    expect(new Set(dropped).size).toBe(8);
    expect(dropped.every((k) => expected.includes(k))).toBe(true);
  }, 300_000);

  it('refuses a shard whose sha256 differs from the pin, naming the shard', async () => {
    const tampered = path.join(work, 'tampered');
    cpSync(even, tampered, { recursive: true });
    const shard = path.join(tampered, 'webdataset', 'train-000002.tar');
    const bytes = readFileSync(shard);
    bytes[600] = bytes[600]! ^ 0xff; // inside the first member's data: same size, still a tar
    writeFileSync(shard, new Uint8Array(bytes));
    const r = await runPythonRaw(
      `${importFrom(evenLoaders)}
from ${MOD} import WdsSteps, DatasetIdentityError
ds = WdsSteps("train", shuffle=False)
try:
    list(ds)
except DatasetIdentityError as e:
    print("REFUSED", e)
`,
      { env: { NUSOMI_PROCESS_INVOICE_ROOT: tampered } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('REFUSED');
    expect(r.stdout).toContain('webdataset/train-000002.tar: sha256 is');
    expect(r.stdout).toContain(evenManifest.files.find((f) => f.path === 'webdataset/train-000002.tar')!.sha256);
  }, 120_000);
});
