/**
 * Loaders generated from a Hub repo at a tag (local Hub server): the modules pin the tag's commit
 * sha and keep loading that version after main moves on; hf loads by revision through the real
 * datasets/huggingface_hub, torch-wds streams the shards over https resolve URLs; no token in files.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushDataset } from '../src/hub/push.ts';
import { startHubServer } from '../src/hub/server.ts';
import type { HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { runPython } from './helpers/python.ts';
import { SPLIT_FLAGS, convertSample, importFrom, renderFor } from './loaders.fixture.ts';
import { testToken } from './helpers/bytes.ts';

const TOKEN = testToken();
const REPO = 'acme/process_invoice';

let work: string;
let hub: HubServer;
let v1Commit: string;
let loaders: string;
let pyEnv: Record<string, string>;
const requests: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'loaders-hub-'));
  hub = await startHubServer({ dir: path.join(work, 'hub'), tokens: [{ token: TOKEN, role: 'write' }], log: (l) => requests.push(l) });
  const token = new HubToken(TOKEN, 'HF_TOKEN');
  const v1 = path.join(work, 'v1');
  const v2 = path.join(work, 'v2');
  await Promise.all([
    convertSample(v1, ['--formats', 'parquet,webdataset', ...SPLIT_FLAGS, '--world-size', '2', '--workers', '1']),
    convertSample(v2, ['--formats', 'parquet,webdataset', '--split', 'train=0.9,test=0.1', '--seed', '2']),
  ]);
  const p1 = await pushDataset({ dir: v1, repo: REPO, tag: 'v1', formats: ['parquet', 'webdataset'], hubUrl: hub.url, token });
  v1Commit = p1.commit as string;
  // main moves on: the pinned modules must still read v1.
  await pushDataset({ dir: v2, repo: REPO, formats: ['parquet', 'webdataset'], hubUrl: hub.url, token });
  loaders = path.join(work, 'loaders');
  await renderFor({ source: `${REPO}@v1`, out: loaders, hubUrl: hub.url, token, targets: ['hf', 'torch-wds', 'torch-parquet'] });
  pyEnv = {
    HF_ENDPOINT: hub.url,
    HF_HUB_OFFLINE: '0',
    HF_DATASETS_OFFLINE: '0',
    HF_HOME: path.join(work, 'hf-home'),
    HF_TOKEN: TOKEN,
  };
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('loaders from a Hub repo', () => {
  it('offers only targets whose files are in the repo at that revision (a parquet-only push has no torch-wds)', async () => {
    const token = new HubToken(TOKEN, 'HF_TOKEN');
    await pushDataset({ dir: path.join(work, 'v1'), repo: 'acme/parquet-only', tag: 'v1', formats: ['parquet'], hubUrl: hub.url, token });
    const out = path.join(work, 'loaders-pq');
    const r = await renderFor({ source: 'acme/parquet-only@v1', out, hubUrl: hub.url, token });
    expect(r.targets).toEqual(['hf', 'torch-parquet', 'ray']);
    await expect(renderFor({ source: 'acme/parquet-only@v1', out, hubUrl: hub.url, token, targets: ['torch-wds'] })).rejects.toThrow(
      /torch-wds: needs the webdataset files/,
    );
  }, 60_000);

  it('a repo id the Hub would refuse is a usage error before any request carries the token', async () => {
    const token = new HubToken(TOKEN, 'HF_TOKEN');
    const before = requests.length;
    for (const spec of ['acme/..', 'acme/..@v1', 'acme/a--b', 'acme/x.git@main', 'acme/-x']) {
      // Before: "acme/.." asked GET /api/datasets/revision/main with the token.
      await expect(renderFor({ source: spec, out: path.join(work, 'loaders-bad'), hubUrl: hub.url, token }), spec).rejects.toThrow(
        /nor a valid Hub repo id/,
      );
    }
    expect(requests.slice(before)).toEqual([]);
  });

  it('pins the commit sha of the tag and the tag; no token and no Hub address in any file', async () => {
    const pins = await runPython<{ source: Record<string, unknown>; revision: string }>(`${importFrom(loaders)}
import json, nusomi_process_invoice_hf as m
print(json.dumps({"source": m.SOURCE, "revision": m.REVISION}))
`);
    expect(pins.source).toEqual({ kind: 'hub', repo_id: REPO, revision: v1Commit, tag: 'v1' });
    expect(pins.revision).toBe(v1Commit);
    for (const n of readdirSync(loaders)) {
      const text = readFileSync(path.join(loaders, n), 'utf8');
      expect(text.includes(TOKEN), n).toBe(false);
      expect(text.includes(hub.url), n).toBe(false);
      expect(text.includes(work), n).toBe(false);
    }
  }, 60_000);

  it('hf: load("train") reads the pinned revision from the Hub (40 rows of v1, not main), with model inputs', async () => {
    const r = await runPython<Record<string, unknown>>(
      `${importFrom(loaders)}
import json, datasets
from nusomi_process_invoice_hf import load, to_model_inputs, ACTION_TYPES
ds = load("train")
head = datasets.load_dataset("${REPO}", split="train")
x = ds.with_transform(to_model_inputs)[3]
print(json.dumps({"rows": len(ds), "main_rows": len(head), "label": ACTION_TYPES[int(x["action_type_id"])],
  "want": ds.features["action"]["type"].int2str(ds[3]["action"]["type"]), "shape": list(x["image"].shape)}))
`,
      { env: pyEnv, timeoutMs: 240_000 },
    );
    expect(r.rows).toBe(40);
    expect(r.main_rows).not.toBe(40);
    expect(r.label).toBe(r.want);
    expect((r.shape as number[])[0]).toBe(3);
  }, 300_000);

  it('torch-wds: streams the pinned shards over https (resolve URLs, token sent), every sample once, sha256 verified', async () => {
    const r = await runPython<{ keys: string[]; len: number }>(
      `${importFrom(loaders)}
import json, torch
from nusomi_process_invoice_torch_wds import WdsSteps, collate
ds = WdsSteps("train", verify=True)
keys = []
for b in torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate):
    keys += [f"{s}/{int(t)}" for s, t in zip(b["session_id"], b["step"])]
print(json.dumps({"keys": keys, "len": len(ds)}))
`,
      { env: pyEnv, timeoutMs: 240_000 },
    );
    expect(r.len).toBe(40);
    expect(r.keys).toHaveLength(40);
    expect(new Set(r.keys).size).toBe(40);
  }, 300_000);

  it('a Hub pin reads through huggingface_hub when it is installed, and through the standard library when not', async () => {
    const snippet = `${importFrom(loaders)}
import json, sys
if sys.argv[1] == "without":
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "huggingface_hub":
                raise ImportError("blocked for this test: " + name)
            return None
    sys.meta_path.insert(0, Block())
from nusomi_process_invoice_torch_wds import WdsSteps
from nusomi_process_invoice_torch_parquet import ParquetSteps
wds = [f'{r["session_id"]}/{r["step"]}' for r in WdsSteps("train", shuffle=False, transform=None)]
pq = ParquetSteps("train", transform=None)
rows = [f'{pq[i]["session_id"]}/{pq[i]["step"]}' for i in range(len(pq))]
print(json.dumps({"wds": wds, "pq": rows, "hf_hub": "huggingface_hub" in sys.modules, "paths": pq.paths}))
`;
    type Got = { wds: string[]; pq: string[]; hf_hub: boolean; paths: string[] };
    const cache = path.join(work, 'nusomi-cache');
    const [withHub, without] = await Promise.all([
      runPython<Got>(snippet, { args: ['with'], env: { ...pyEnv, NUSOMI_HF_CACHE: cache }, timeoutMs: 240_000 }),
      runPython<Got>(snippet, { args: ['without'], env: { ...pyEnv, NUSOMI_HF_CACHE: cache }, timeoutMs: 240_000 }),
    ]);
    for (const r of [withHub, without]) {
      expect(r.wds).toHaveLength(40);
      expect(new Set(r.wds).size).toBe(40);
      expect(r.pq).toEqual(r.wds);
    }
    // Installed: huggingface_hub streams the shards and its own cache holds the Parquet files.
    expect(withHub.hf_hub).toBe(true);
    for (const p of withHub.paths) expect(p.startsWith(path.join(pyEnv.HF_HOME!, 'hub')), p).toBe(true);
    // Not installed: the dependency-free path (urllib, the loaders' own content-addressed cache).
    expect(without.hf_hub).toBe(false);
    for (const p of without.paths) expect(p.startsWith(cache), p).toBe(true);
  }, 300_000);
});
