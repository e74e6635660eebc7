/**
 * The generated hf, torch-parquet and ray loaders on a local dataset, run with the real packages
 * and compared with the split's Parquet rows read by pyarrow directly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPython } from './helpers/python.ts';
import { SPLIT_FLAGS, convertSample, importFrom, renderFor } from './loaders.fixture.ts';

let work: string;
let dataset: string;
let loaders: string;
let env: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'loaders-local-'));
  dataset = path.join(work, 'ds');
  // Small row groups so torch-parquet's row-group cache is exercised across groups and files.
  await convertSample(dataset, ['--formats', 'parquet', ...SPLIT_FLAGS, '--max-shard-bytes', '400KB']);
  loaders = path.join(work, 'loaders');
  await renderFor({ source: dataset, out: loaders, targets: ['hf', 'torch-parquet', 'ray'] });
  env = { NUSOMI_PROCESS_INVOICE_ROOT: dataset };
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Python: the train split's rows straight from the pinned Parquet files (pyarrow), image as bytes. */
const ROWS = `
import glob, json, os, pyarrow.parquet as pq
root = os.environ["NUSOMI_PROCESS_INVOICE_ROOT"]
rows = []
for f in sorted(glob.glob(root + "/data/train-*.parquet")):
    rows += pq.read_table(f).to_pylist()
`;

describe('hf loader (local)', () => {
  it('load("train") equals the train split; to_model_inputs gives tensors and vocabulary label ids', async () => {
    const r = await runPython<Record<string, unknown>>(
      `${importFrom(loaders)}${ROWS}
import io, torch, datasets
from PIL import Image
from nusomi_process_invoice_hf import load, to_model_inputs, collate, ACTION_TYPES, NO_PRIOR_ACTION_ID
ds = load("train")
raw = ds.cast_column("image", datasets.Image(decode=False))
same = [dict(a, image=a["image"]["bytes"]) == dict(b, image=b["image"]["bytes"]) for a, b in zip(raw, rows)]
t = ds.with_transform(to_model_inputs)
checks = []
for i in (0, 1, 5, len(rows) - 1):
    x, row = t[i], rows[i]
    img = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
    a, p = row["action"], row["prior_action"]
    checks.append({
        "image": list(x["image"].shape) == [3, img.height, img.width] and x["image"].dtype == torch.uint8,
        "pixels": bool((x["image"].permute(1, 2, 0).numpy() == __import__("numpy").asarray(img)).all()),
        "label": int(x["action_type_id"]) == a["type"] and ACTION_TYPES[int(x["action_type_id"])] == ds.features["action"]["type"].int2str(a["type"]),
        "xy": (a["x_norm"] is None and not bool(x["action_has_xy"])) or abs(float(x["action_xy"][0]) - a["x_norm"]) < 1e-6,
        "prior": int(x["prior_action_type_id"]) == (NO_PRIOR_ACTION_ID if p is None else p["type"]),
    })
batch = collate([t[0], t[1], t[2]])
print(json.dumps({"n": len(ds), "rows": len(rows), "same": all(same) and len(same) == len(rows), "checks": checks,
  "first_prior": int(t[0]["prior_action_type_id"]), "batch": list(batch["image"].shape), "ids": batch["action_type_id"].tolist(),
  "streamed": sum(1 for _ in load("train", streaming=True))}))
`,
      { env, timeoutMs: 240_000 },
    );
    expect(r.n).toBe(r.rows);
    expect(r.same).toBe(true);
    for (const c of r.checks as Array<Record<string, boolean>>)
      expect(c).toEqual({ image: true, pixels: true, label: true, xy: true, prior: true });
    expect(r.first_prior).toBe(11); // step 0 of the first session: no prior action
    expect((r.batch as number[])[0]).toBe(3);
    expect(r.streamed).toBe(r.rows);
  }, 300_000);
});

describe('torch-parquet loader', () => {
  it('ds[i] equals row i for random i, and DistributedSampler over 2 replicas covers the split', async () => {
    const r = await runPython<Record<string, unknown>>(
      `${importFrom(loaders)}${ROWS}
import io, random, torch
from PIL import Image
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from nusomi_process_invoice_torch_parquet import ParquetSteps, collate, FILES
ds = ParquetSteps("train", transform=None)
rng = random.Random(3)
idx = [rng.randrange(len(rows)) for _ in range(30)] + [0, len(rows) - 1, -1]
ok = []
for i in idx:
    got, want = ds[i], rows[i]
    img = got.pop("image")
    want_image = Image.open(io.BytesIO(want["image"]["bytes"]))
    ok.append(got == {k: v for k, v in want.items() if k != "image"} and img.tobytes() == want_image.tobytes())
seen = []
model = ParquetSteps("train")
for rank in (0, 1):
    s = DistributedSampler(model, num_replicas=2, rank=rank, shuffle=True, seed=5)
    s.set_epoch(1)
    for b in DataLoader(model, batch_size=4, sampler=s, num_workers=2, collate_fn=collate):
        seen += [f"{a}/{int(b_)}" for a, b_ in zip(b["session_id"], b["step"])]
print(json.dumps({"len": len(ds), "rows": len(rows), "ok": ok, "files": len(FILES["parquet"]["train"]), "seen": sorted(seen),
  "want": sorted(f"{r['session_id']}/{r['step']}" for r in rows)}))
`,
      { env, timeoutMs: 240_000 },
    );
    expect(r.len).toBe(r.rows);
    expect(r.files as number).toBeGreaterThan(1);
    expect((r.ok as boolean[]).every(Boolean)).toBe(true);
    expect(r.seen).toEqual(r.want);
  }, 300_000);
});

describe('ray loader', () => {
  it('yields every row of the split once, decoded like the torch loaders', async () => {
    const r = await runPython<Record<string, unknown>>(
      `${importFrom(loaders)}${ROWS}
import ray
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
from nusomi_process_invoice_ray import read_split, NO_PRIOR_ACTION_ID
got = read_split("train").take_all()
by_key = {f"{r['session_id']}/{r['step']}": r for r in rows}
ok = all(int(g["action_type_id"]) == by_key[f"{g['session_id']}/{int(g['step'])}"]["action"]["type"]
         and tuple(g["image"].shape[2:]) == (3,) for g in got)
print(json.dumps({"keys": sorted(f"{g['session_id']}/{int(g['step'])}" for g in got), "want": sorted(by_key), "ok": ok,
  "none_prior": sum(1 for g in got if int(g["prior_action_type_id"]) == NO_PRIOR_ACTION_ID)}))
ray.shutdown()
`,
      { env, timeoutMs: 400_000 },
    );
    expect(r.keys).toEqual(r.want);
    expect(r.ok).toBe(true);
    expect(r.none_prior).toBe(4); // one first step per train session
  }, 420_000);
});
