/**
 * `convert --formats parquet,webdataset` end to end on the bundled sample export, read back with what
 * users read shards with: Python tarfile, datasets.load_dataset("webdataset") (checked row by row
 * against the Parquet output of the same run), a plain PyTorch IterableDataset under DataLoader
 * workers, msgpack for the `.mp` sidecar, and the card's own snippet.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { cliOk } from './helpers/cli.ts';
import { repoRoot, runPython } from './helpers/python.ts';

const SAMPLE = path.join(repoRoot, 'samples/jsonl');
const CREATED_AT_S = Date.parse('2026-05-07T14:08:11Z') / 1000; // samples/jsonl/manifest.json created_at
const SPLITS = ['train', 'validation', 'test'];
// Seed 2 gives the 8 sample sessions three non-empty splits (43 / 20 / 14 rows), each ≥ 6 rows.
const ARGS = [
  '--formats',
  'parquet,webdataset',
  '--split',
  'train=0.6,validation=0.2,test=0.2',
  '--seed',
  '2',
  '--world-size',
  '2',
  '--workers',
  '3',
  '--sidecar',
  'mp',
  '--json',
];

async function convertCli(out: string, extra: string[] = ARGS): Promise<Record<string, unknown>> {
  const { stdout } = await cliOk(['convert', SAMPLE, '--out', out, ...extra]);
  return JSON.parse(stdout) as Record<string, unknown>;
}

let tmp = '';
let outA = '';
let outB = '';
let summary: Record<string, unknown>;
let manifest: DatasetManifest;
const shardsOf = (split: string) =>
  manifest.files.filter((f) => f.format === 'webdataset' && f.split === split && f.path.endsWith('.tar')).map((f) => f.path);

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'convert-wds-'));
  outA = path.join(tmp, 'a');
  outB = path.join(tmp, 'b');
  summary = await convertCli(outA);
  await convertCli(outB);
  manifest = JSON.parse(await readFile(path.join(outA, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('convert --formats webdataset on the sample export', () => {
  it('writes ≥ world_size × workers shards per split, counts within 1, listed in manifest and summary', () => {
    expect(Object.keys(manifest.splits)).toEqual(SPLITS);
    expect(summary.splits).toEqual(manifest.splits);
    expect(summary.files).toBe(manifest.files.length + 2); // + README.md and dataset-manifest.json
    for (const split of SPLITS) {
      const files = manifest.files.filter((f) => f.format === 'webdataset' && f.split === split && f.path.endsWith('.tar'));
      const rows = files.map((f) => f.rows!);
      expect(files.length, split).toBeGreaterThanOrEqual(6);
      expect(Math.max(...rows) - Math.min(...rows), split).toBeLessThanOrEqual(1);
      expect(
        rows.reduce((a, b) => a + b),
        split,
      ).toBe(manifest.splits[split]!.rows);
      expect(files.map((f) => f.path)).toEqual(rows.map((_, i) => `webdataset/${split}-${String(i).padStart(6, '0')}.tar`));
      for (const f of files) {
        expect(Object.keys(f).sort()).toEqual(['bytes', 'first_key', 'format', 'last_key', 'path', 'rows', 'sha256', 'split']);
        expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
      expect(
        manifest.files.some((f) => f.path === `webdataset/${split}.index.json` && f.format === 'webdataset' && f.split === split),
      ).toBe(true);
    }
  });

  it('two runs give byte-identical shards, indexes, card and manifest', async () => {
    const names = (await readdir(path.join(outA, 'webdataset'))).sort();
    expect((await readdir(path.join(outB, 'webdataset'))).sort()).toEqual(names);
    expect(names.filter((n) => n.endsWith('.tar'))).toHaveLength(manifest.files.filter((f) => f.path.endsWith('.tar')).length);
    for (const rel of [...names.map((n) => `webdataset/${n}`), 'README.md', 'dataset-manifest.json']) {
      const [a, b] = await Promise.all([readFile(path.join(outA, rel)), readFile(path.join(outB, rel))]);
      expect(Buffer.compare(new Uint8Array(a), new Uint8Array(b)), rel).toBe(0);
    }
  });

  it('Python tarfile: regular files, fixed metadata, adjacent members, one extension set, dot-free keys; index and manifest agree', async () => {
    const r = await runPython<{
      shards: Record<string, { bad: string[]; keys: string[]; extsets: string[][]; size: number; sha256: string; end_ok: boolean }>;
      nonadjacent: string[];
      index: Record<string, { url: string; nsamples: number; filesize: number }[]>;
    }>(
      `
import hashlib, json, os, sys, tarfile
root, mtime = sys.argv[1], int(sys.argv[2])
wds = os.path.join(root, "webdataset")
shards, nonadjacent, index = {}, [], {}
for split in ${JSON.stringify(SPLITS)}:
    seen = set()
    for name in sorted(n for n in os.listdir(wds) if n.startswith(split + "-") and n.endswith(".tar")):
        f = os.path.join(wds, name)
        bad, keys, extsets, prev = [], [], set(), None
        with tarfile.open(f, mode="r:") as t:
            groups = []
            for m in t:
                if not m.isreg(): bad.append("not a regular file: " + m.name)
                if m.pax_headers: bad.append("pax: " + m.name)
                if (m.mode, m.uid, m.gid, m.uname, m.gname, m.mtime) != (0o644, 0, 0, "", "", mtime):
                    bad.append("meta " + m.name + " " + repr((oct(m.mode), m.uid, m.gid, m.uname, m.gname, m.mtime)))
                key, ext = m.name.split(".", 1)
                if key != prev:
                    if key in seen: nonadjacent.append(key)
                    seen.add(key); groups.append((key, [])); prev = key
                groups[-1][1].append(ext)
        raw = open(f, "rb").read()
        shards["webdataset/" + name] = {
            "bad": bad, "keys": [k for k, _ in groups], "extsets": sorted({tuple(e) for _, e in groups}),
            "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "end_ok": len(raw) % 512 == 0 and raw.endswith(bytes(1024)),
        }
    index[split] = json.load(open(os.path.join(wds, split + ".index.json")))["shardlist"]
print(json.dumps({"shards": shards, "nonadjacent": nonadjacent, "index": index}))
`,
      { args: [outA, String(CREATED_AT_S)] },
    );
    expect(r.nonadjacent).toEqual([]);
    const tars = manifest.files.filter((f) => f.format === 'webdataset' && f.path.endsWith('.tar'));
    expect(Object.keys(r.shards).sort()).toEqual(tars.map((f) => f.path).sort());
    for (const f of tars) {
      const s = r.shards[f.path]!;
      expect(s.bad, f.path).toEqual([]);
      expect(s.end_ok, f.path).toBe(true);
      expect(s.extsets, f.path).toEqual([['json', 'mp', 'webp']]);
      for (const k of s.keys) expect(k, f.path).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]*__\d{6}$/);
      expect(f.rows).toBe(s.keys.length);
      expect(f.bytes).toBe(s.size);
      expect(f.sha256).toBe(s.sha256);
      expect(f.first_key).toBe(s.keys[0]);
      expect(f.last_key).toBe(s.keys.at(-1));
    }
    for (const split of SPLITS) {
      const listed = shardsOf(split);
      expect(r.index[split]!.map((e) => `webdataset/${e.url}`)).toEqual(listed);
      for (const e of r.index[split]!) {
        expect(e.nsamples).toBe(r.shards[`webdataset/${e.url}`]!.keys.length);
        expect(e.filesize).toBe(r.shards[`webdataset/${e.url}`]!.size);
      }
      const idx = manifest.files.find((f) => f.path === `webdataset/${split}.index.json`)!;
      const bytes = new Uint8Array(await readFile(path.join(outA, idx.path)));
      expect(idx.bytes).toBe(bytes.length);
      expect(idx.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('datasets.load_dataset("webdataset") loads every split exactly; frames are Images of the stored size; json equals the Parquet row', async () => {
    const dataFiles = Object.fromEntries(SPLITS.map((s) => [s, shardsOf(s).map((p) => path.join(outA, p))]));
    const parquet = Object.fromEntries(
      SPLITS.map((s) => [s, manifest.files.filter((f) => f.format === 'parquet' && f.split === s).map((f) => path.join(outA, f.path))]),
    );
    const r = await runPython<{
      rows: Record<string, number>;
      image_feature: string;
      mp_feature: string;
      mismatches: string[];
      checked: number;
      sizes: number[][];
    }>(
      `
import io, json, sys
import numpy as np
import pyarrow.parquet as pq
from PIL import Image as PILImage
from datasets import Image, load_dataset
data_files, parquet, labels = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
dd = load_dataset("webdataset", data_files=data_files)
names, outcomes = labels["action_type"], labels["outcome"]
mismatches, checked, sizes = [], 0, set()
f32 = lambda v: None if v is None else float(np.float32(v))

def action_from_parquet(a):
    if a is None: return None
    a = dict(a)
    a["type_id"] = a["type"]; a["type"] = names[a["type"]]
    a["x_norm"], a["y_norm"] = f32(a["x_norm"]), f32(a["y_norm"])
    return a

def iso(ts):
    # The Parquet timestamp as the .json carries it: UTC, Z, milliseconds only when not zero.
    if ts is None: return None
    return ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ts.microsecond // 1000:03d}" if ts.microsecond else "") + "Z"

def action_from_json(text):
    a = json.loads(text)
    if a is None: return None
    a["x_norm"], a["y_norm"] = f32(a["x_norm"]), f32(a["y_norm"])
    return a

for split, files in parquet.items():
    rows = {}
    for f in files:
        for row in pq.read_table(f).to_pylist():
            rows[(row["session_id"], row["step"])] = row
    plain = dd[split].cast_column("webp", Image(decode=False))
    for i, (s, raw) in enumerate(zip(dd[split], plain)):
        j = s["json"]
        p = rows.pop((j["session_id"], j["step"]), None)
        where = f"{split} {s['__key__']}"
        if p is None:
            mismatches.append(where + ": no parquet row"); continue
        img = s["webp"]
        sizes.add(img.size)
        if raw["webp"]["bytes"] != p["image"]["bytes"]: mismatches.append(where + ": frame bytes differ")
        if img.size != PILImage.open(io.BytesIO(p["image"]["bytes"])).size: mismatches.append(where + ": frame size")
        # Layout (src/write/wds-rows.ts): typed never-null fields; everything nullable is JSON text.
        expect = {
            "session_id": p["session_id"], "step": p["step"], "t_ms": p["t_ms"], "image_path": p["image"]["path"],
            "action_type": names[p["action"]["type"]], "action_type_id": p["action"]["type"],
            "viewport": p["viewport"],
            "context": {"workflow": p["workflow"], "outcome": None if p["outcome"] is None else outcomes[p["outcome"]],
                        "outcome_id": p["outcome"], "actor_kind": p["actor_kind"], "tags": p["tags"], "path": p["path"],
                        "started_at": iso(p["started_at"])},
            "dom": None if p["dom"] is None else json.loads(p["dom"]),
            "accessibility_tree": p["accessibility_tree"],
            "extra": json.loads(p["extra"]),
        }
        TEXT = ("viewport", "context", "dom", "accessibility_tree", "extra")
        for k in TEXT:
            if not isinstance(j[k], str): mismatches.append(f"{where}: {k} is not JSON text")
        got = {k: (json.loads(v) if k in TEXT else v) for k, v in j.items() if k not in ("action", "prior_action")}
        if got != expect: mismatches.append(where + ": columns " + repr({k: (got.get(k), expect.get(k)) for k in set(got) | set(expect) if got.get(k) != expect.get(k)}))
        for col in ("action", "prior_action"):
            if action_from_json(j[col]) != action_from_parquet(p[col]): mismatches.append(f"{where}: {col} {j[col]!r} vs {p[col]!r}")
        if s["mp"] != {**j}: mismatches.append(where + ": mp column differs from json")
        checked += 1
    mismatches += [f"{split}: parquet row {k} has no sample" for k in rows]
print(json.dumps({
    "rows": {k: v.num_rows for k, v in dd.items()},
    "image_feature": type(dd["train"].features["webp"]).__name__,
    "mp_feature": type(dd["train"].features["mp"]).__name__,
    "mismatches": mismatches[:20], "checked": checked, "sizes": sorted(sizes),
}))
`,
      { args: [JSON.stringify(dataFiles), JSON.stringify(parquet), JSON.stringify(manifest.labels)] },
    );
    expect(r.mismatches).toEqual([]);
    expect(r.rows).toEqual(Object.fromEntries(SPLITS.map((s) => [s, manifest.splits[s]!.rows])));
    expect(r.checked).toBe(77);
    expect(r.image_feature).toBe('Image');
    expect(r.mp_feature).toBe('dict'); // decoded by datasets' msgpack decoder into a struct
    // Passthrough: frames keep their captured viewport size.
    expect(r.sizes).toEqual(manifest.viewports.map((v) => [v.w, v.h]));
  });

  it('.mp members decode with Python msgpack to the .json record, t_ms an int', async () => {
    const r = await runPython<{ samples: number; bad: string[] }>(
      `
import json, os, sys, tarfile, msgpack
wds, bad, n = os.path.join(sys.argv[1], "webdataset"), [], 0
for name in sorted(x for x in os.listdir(wds) if x.endswith(".tar")):
    with tarfile.open(os.path.join(wds, name)) as t:
        members = {m.name: t.extractfile(m).read() for m in t}
    for mname, data in members.items():
        if not mname.endswith(".mp"): continue
        n += 1
        rec = msgpack.unpackb(data, raw=False, strict_map_key=True)
        js = json.loads(members[mname[:-3] + ".json"])
        if type(rec["t_ms"]) is not int or type(rec["step"]) is not int: bad.append(mname + ": t_ms/step not int")
        if rec != js: bad.append(mname + ": differs from .json")
print(json.dumps({"samples": n, "bad": bad[:10]}))
`,
      { args: [outA] },
    );
    expect(r.bad).toEqual([]);
    expect(r.samples).toBe(77);
  });

  it('a plain PyTorch IterableDataset over the shards with DataLoader(num_workers=2) yields every sample exactly once', async () => {
    const files = SPLITS.flatMap((s) => shardsOf(s).map((p) => path.join(outA, p)));
    const r = await runPython<{ keys: string[]; workers: number[]; frames_ok: boolean }>(
      `
import json, sys, tarfile
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

class Shards(IterableDataset):
    def __init__(self, urls): self.urls = urls
    def __iter__(self):
        info = get_worker_info()
        mine = self.urls if info is None else self.urls[info.id::info.num_workers]
        for url in mine:
            with tarfile.open(url) as t:
                key, sample = None, {}
                for m in t:
                    k, ext = m.name.split(".", 1)
                    if k != key and sample:
                        yield self.done(key, sample); sample = {}
                    key = k
                    sample[ext] = t.extractfile(m).read()
                if sample: yield self.done(key, sample)
    @staticmethod
    def done(key, sample):
        meta = json.loads(sample["json"])
        wid = get_worker_info().id
        return {"key": key, "worker": wid, "webp": sample["webp"][:4] == b"RIFF" and sample["webp"][8:12] == b"WEBP", "step": meta["step"]}

if __name__ == "__main__":
    loader = DataLoader(Shards(sys.argv[1:]), batch_size=None, num_workers=2)
    got = list(loader)
    print(json.dumps({"keys": [g["key"] for g in got], "workers": sorted({int(g["worker"]) for g in got}), "frames_ok": all(g["webp"] for g in got)}))
`,
      { args: files },
    );
    const expected = manifest.files.filter((f) => f.format === 'webdataset' && f.path.endsWith('.tar')).reduce((a, f) => a + f.rows!, 0);
    expect(expected).toBe(77);
    expect(r.keys).toHaveLength(77);
    expect(new Set(r.keys).size).toBe(77);
    expect(r.workers).toEqual([0, 1]);
    expect(r.frames_ok).toBe(true);
  });

  it('the card shows how to read the shards (its snippet runs) and does not declare them in YAML configs', async () => {
    const card = await readFile(path.join(outA, 'README.md'), 'utf8');
    const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
    expect(m).not.toBeNull();
    const yaml = parseYaml(m![1]!) as { configs?: { data_files: unknown }[] };
    expect(JSON.stringify(yaml.configs)).not.toMatch(/webdataset|\.tar/);
    expect(JSON.stringify(yaml.configs)).toMatch(/data\/train-/);
    const section = card.slice(card.indexOf('### WebDataset shards'));
    expect(section).toMatch(/PyTorch/);
    const snippet = /```python\n([\s\S]*?)```/.exec(section)?.[1];
    expect(snippet).toMatch(/load_dataset\("webdataset", data_files=/);
    // Run it as a user would, from the dataset directory.
    const r = await runPython<{ rows: number; columns: string[] }>(
      `${snippet}\nimport json\nprint(json.dumps({"rows": ds.num_rows, "columns": sorted(ds.column_names)}))`,
      { cwd: outA },
    );
    expect(r.rows).toBe(manifest.splits.train!.rows);
    expect(r.columns).toEqual(['__key__', '__url__', 'json', 'mp', 'webp']);
  });
});
