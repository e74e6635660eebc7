/**
 * The card as published: it names the repo it is in, shows only the formats pushed, and its
 * snippets run as pasted from any working directory; WebDataset loads through its own config
 * (`load_dataset(repo, "webdataset", revision=...)`). Checked with the real datasets library
 * against the local Hub, on datasets converted from the bundled sample.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { cardForRepo } from '../src/hf/card.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { pushDataset } from '../src/hub/push.ts';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { runPython } from './helpers/python.ts';
import { convertSample, SPLIT_FLAGS } from './loaders.fixture.ts';
import { testToken } from './helpers/bytes.ts';

const TOKEN = testToken();

let work: string;
let hub: HubServer;
let both: string;
let manifest: DatasetManifest;
let wdsOnly: string;
let jsonlOnly: string;
const token = new HubToken(TOKEN, 'HF_TOKEN');

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'hub-card-'));
  hub = await startHubServer({ dir: path.join(work, 'hub'), tokens: [{ token: TOKEN, role: 'write' }] });
  both = path.join(work, 'both');
  wdsOnly = path.join(work, 'wds-only');
  jsonlOnly = path.join(work, 'jsonl-only');
  [manifest] = await Promise.all([
    convertSample(both, ['--formats', 'parquet,webdataset', ...SPLIT_FLAGS, '--repo-id', 'nusomi/process_invoice-sample']),
    convertSample(wdsOnly, ['--formats', 'webdataset', ...SPLIT_FLAGS]),
    convertSample(jsonlOnly, ['--formats', 'jsonl', ...SPLIT_FLAGS]),
  ]);
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const rowsPerSplit = (m: DatasetManifest): Record<string, number> =>
  Object.fromEntries(Object.entries(m.splits).map(([k, v]) => [k, v.rows]));

const py = <T>(code: string, cwd?: string): Promise<T> =>
  runPython<T>(code, {
    ...(cwd ? { cwd } : {}),
    env: {
      HF_ENDPOINT: hub.url,
      HF_HUB_OFFLINE: '0',
      HF_DATASETS_OFFLINE: '0',
      HF_TOKEN: '',
      HF_HOME: path.join(work, `py-${Math.random().toString(36).slice(2)}`),
    },
  });

async function published(repo: string, rev: string, file: string): Promise<string> {
  const res = await fetch(`${hub.url}/datasets/${repo}/resolve/${rev}/${file}`);
  expect(res.status, `${repo}@${rev}/${file}`).toBe(200);
  return res.text();
}

/** The python block after a heading of the card's loading section. */
function snippetAfter(card: string, heading: string): string {
  const at = card.indexOf(heading);
  expect(at, heading).toBeGreaterThan(-1);
  const m = /```python\n([\s\S]*?)```/.exec(card.slice(at));
  return m![1]!;
}

describe('the card a push publishes', () => {
  it('names the repo pushed to and only the formats pushed (default parquet-only push)', async () => {
    const r = await pushDataset({ dir: both, repo: 'me/test', tag: 'v1', hubUrl: hub.url, token });
    expect(r.formats).toEqual(['parquet']);
    const card = await published('me/test', 'v1', 'README.md');
    expect(card).toContain('load_dataset("me/test")');
    expect(card).not.toContain('nusomi/process_invoice-sample');
    expect(card.toLowerCase()).not.toContain('webdataset');
    const yaml = parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(card)![1]!) as {
      configs: Array<{ config_name: string; data_files: Array<{ path: string }> }>;
    };
    expect(yaml.configs.map((c) => c.config_name)).toEqual(['default']);
    for (const f of yaml.configs[0]!.data_files) expect(f.path).toMatch(/^data\//);
    const pushedManifest = JSON.parse(await published('me/test', 'v1', 'dataset-manifest.json')) as DatasetManifest;
    expect(pushedManifest.formats).toEqual(['parquet']);
    expect(pushedManifest.files.every((f) => f.format === 'parquet')).toBe(true);
    // The README's own snippet, run as pasted from another directory.
    const counts = await py<Record<string, number>>(
      `${snippetAfter(card, '### With `datasets`')}
import json; print(json.dumps({k: v.num_rows for k, v in ds.items()}))`,
      os.tmpdir(),
    );
    expect(counts).toEqual(rowsPerSplit(manifest));
    // Deterministic: the same push gives the same card bytes, so a re-push changes nothing.
    const again = await pushDataset({ dir: both, repo: 'me/test', hubUrl: hub.url, token });
    expect(again.commits).toEqual([]);
    const local = readFileSync(path.join(both, 'README.md'), 'utf8');
    expect(cardForRepo(local, manifest, ['parquet'], { repoId: 'me/test' })).toBe(card);
  }, 120_000);

  it('with parquet and webdataset pushed, the WebDataset snippet runs as pasted from any directory', async () => {
    await pushDataset({ dir: both, repo: 'me/both', formats: ['parquet', 'webdataset'], hubUrl: hub.url, token });
    const card = await published('me/both', 'main', 'README.md');
    const snippet = snippetAfter(card, '### WebDataset shards');
    expect(snippet).toContain('hf://datasets/me/both/webdataset/');
    const got = await py<{ rows: number; cols: string[]; json: unknown }>(
      `${snippet}
import json
first = ds[0]
print(json.dumps({"rows": ds.num_rows, "cols": sorted(first.keys()), "json": first["json"]["session_id"]}))`,
      os.tmpdir(),
    );
    expect(got.rows).toBe(manifest.splits.train!.rows);
    expect(got.cols).toContain('json');
    expect(typeof got.json).toBe('string');
  }, 120_000);

  it('a WebDataset-only version loads the natural way: load_dataset(repo, "webdataset", revision=...)', async () => {
    const m = JSON.parse(readFileSync(path.join(wdsOnly, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
    await pushDataset({ dir: wdsOnly, repo: 'me/wds', tag: 'v1', formats: ['webdataset'], hubUrl: hub.url, token });
    const card = await published('me/wds', 'v1', 'README.md');
    expect(card).toContain('load_dataset("me/wds", "webdataset")');
    const got = await py<{ counts: Record<string, number>; default: Record<string, number>; sid: unknown; image: string }>(`
import json
from datasets import load_dataset
ds = load_dataset("me/wds", "webdataset", revision="v1")
dflt = load_dataset("me/wds", revision="v1")
first = ds["train"][0]
image = [k for k in first if k in ("webp", "jpg", "png")][0]
print(json.dumps({"counts": {k: v.num_rows for k, v in ds.items()}, "default": {k: v.num_rows for k, v in dflt.items()},
                  "sid": first["json"]["session_id"], "image": type(first[image]).__name__}))`);
    expect(got.counts).toEqual(rowsPerSplit(m));
    expect(got.default).toEqual(rowsPerSplit(m));
    expect(typeof got.sid).toBe('string');
    expect(got.image).toMatch(/ImageFile|Image/);
    // The local card convert wrote is valid too: the folder loads the same way.
    const local = await py<Record<string, number>>(
      `
import json, sys
from datasets import load_dataset
ds = load_dataset(${JSON.stringify(wdsOnly)}, "webdataset")
print(json.dumps({k: v.num_rows for k, v in ds.items()}))`,
      os.tmpdir(),
    );
    expect(local).toEqual(rowsPerSplit(m));
  }, 120_000);

  it('a JSON Lines-only version loads its rows, not an image folder of its frames, and its snippet opens the frame', async () => {
    await pushDataset({ dir: jsonlOnly, repo: 'me/jsonl', tag: 'v1', formats: ['jsonl'], hubUrl: hub.url, token });
    const card = await published('me/jsonl', 'v1', 'README.md');
    const yaml = parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(card)![1]!) as {
      configs?: Array<{ data_files: Array<{ path: string }> }>;
      dataset_info?: { features?: unknown };
    };
    // Before: no configs and an empty "How to load": datasets inferred an image folder (columns image, label).
    expect(yaml.configs?.[0]?.data_files.map((f) => f.path)).toEqual(Object.keys(manifest.splits).map((s) => `jsonl/${s}-*.jsonl`));
    expect(yaml.dataset_info?.features).toBeUndefined();
    const got = await py<{ counts: Record<string, number>; sid: unknown; size: number[] }>(
      `${snippetAfter(card, '### With `datasets`')}
import json
print(json.dumps({"counts": {k: v.num_rows for k, v in ds.items()}, "sid": row["session_id"], "size": list(image.size)}))`,
      os.tmpdir(),
    );
    expect(got.counts).toEqual(rowsPerSplit(manifest));
    expect(typeof got.sid).toBe('string');
    expect(got.size[0]).toBeGreaterThan(0);
    // The local card convert wrote loads the same rows from its folder.
    const local = await py<Record<string, number>>(
      `
from datasets import load_dataset
import json
ds = load_dataset(${JSON.stringify(jsonlOnly)})
print(json.dumps({k: v.num_rows for k, v in ds.items()}))`,
      os.tmpdir(),
    );
    expect(local).toEqual(rowsPerSplit(manifest));
  }, 120_000);
});
