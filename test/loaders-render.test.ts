/**
 * The generated modules as files: byte-identical on regeneration, valid Python, importable without
 * the packages of other targets, nothing of this machine in them; bad targets are usage errors.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { repoRoot, runPython, runPythonRaw } from './helpers/python.ts';
import { SPLIT_FLAGS, convertSample, importFrom, renderFor } from './loaders.fixture.ts';

let work: string;
let dataset: string;
let manifest: DatasetManifest;
let outA: string;
let outB: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'loaders-render-'));
  dataset = path.join(work, 'ds');
  manifest = await convertSample(dataset, ['--formats', 'parquet,webdataset', ...SPLIT_FLAGS, '--world-size', '2', '--workers', '2']);
  outA = path.join(work, 'a');
  outB = path.join(work, 'b');
  await renderFor({ source: dataset, out: outA });
  await renderFor({ source: dataset, out: outB });
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const MODULES = {
  hf: 'nusomi_process_invoice_hf',
  'torch-wds': 'nusomi_process_invoice_torch_wds',
  'torch-parquet': 'nusomi_process_invoice_torch_parquet',
  ray: 'nusomi_process_invoice_ray',
} as const;

describe('loaders render', () => {
  it('writes one module per target and a README, byte-identical when regenerated', () => {
    const names = readdirSync(outA).sort();
    expect(names).toEqual(['README.md', ...Object.values(MODULES).map((m) => `${m}.py`)].sort());
    for (const n of names) expect(readFileSync(path.join(outB, n), 'utf8'), n).toBe(readFileSync(path.join(outA, n), 'utf8'));
  });

  it('no absolute path of this machine, no leftover template import, and the pins match the manifest', async () => {
    for (const n of readdirSync(outA)) {
      const text = readFileSync(path.join(outA, n), 'utf8');
      for (const p of [work, repoRoot, os.homedir(), os.tmpdir(), os.hostname()])
        expect(text.includes(p), `${n} contains ${p}`).toBe(false);
      expect(text).not.toMatch(/from _(pins|common|torch_common) import/);
    }
    const pins = await runPython<Record<string, unknown>>(`${importFrom(outA)}
import json, nusomi_process_invoice_torch_wds as w, nusomi_process_invoice_torch_parquet as p
print(json.dumps({"source": w.SOURCE, "actions": list(w.ACTION_TYPES), "outcomes": list(w.OUTCOMES), "features": w.FEATURES,
  "wds": {k: [list(e) for e in v] for k, v in w.FILES["webdataset"].items()}, "pq": {k: [list(e) for e in v] for k, v in p.FILES["parquet"].items()},
  "viewports": list(w.VIEWPORTS), "coordinates": w.COORDINATES, "splits": w.SPLITS, "no_prior": w.NO_PRIOR_ACTION_ID}))
`);
    expect(pins.source).toEqual({ kind: 'local' });
    expect(pins.actions).toEqual(manifest.labels.action_type);
    expect(pins.outcomes).toEqual(manifest.labels.outcome);
    expect(pins.features).toEqual(manifest.features);
    expect(pins.viewports).toEqual(manifest.viewports);
    expect(pins.coordinates).toEqual(manifest.coordinates);
    expect(pins.splits).toEqual(manifest.splits);
    expect(pins.no_prior).toBe(manifest.labels.action_type.length);
    const files = (fmt: string, split: string): unknown[] =>
      manifest.files
        .filter((f) => f.format === fmt && f.split === split && f.rows !== null)
        .map((f) => [f.path, f.rows, f.bytes, f.sha256]);
    for (const split of Object.keys(manifest.splits)) {
      expect((pins.wds as Record<string, unknown>)[split]).toEqual(files('webdataset', split));
      expect((pins.pq as Record<string, unknown>)[split]).toEqual(files('parquet', split));
    }
  });

  it('every module passes py_compile', async () => {
    const r = await runPythonRaw(
      `
import py_compile, sys, os, tempfile
for name in sorted(os.listdir(sys.argv[1])):
    if name.endswith(".py"):
        py_compile.compile(os.path.join(sys.argv[1], name), cfile=os.path.join(tempfile.mkdtemp(), "x.pyc"), doraise=True)
print("compiled")
`,
      { args: [outA] },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('compiled');
  });

  // Which packages each module must import without (the other targets' packages).
  const BLOCKED: Record<keyof typeof MODULES, string[]> = {
    hf: ['ray', 'webdataset'],
    'torch-wds': ['ray', 'pyarrow', 'datasets', 'webdataset', 'huggingface_hub'],
    'torch-parquet': ['ray', 'datasets', 'webdataset', 'huggingface_hub'],
    ray: ['torch', 'datasets', 'webdataset'],
  };
  for (const [target, blocked] of Object.entries(BLOCKED)) {
    it(`${target} imports with ${blocked.join(', ')} blocked`, async () => {
      const mod = MODULES[target as keyof typeof MODULES];
      const r = await runPythonRaw(
        `${importFrom(outA)}
import json
BLOCKED = set(${JSON.stringify(blocked)})
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked for this test: {name}")
        return None
sys.meta_path.insert(0, Block())
import ${mod} as m
print(json.dumps({"loaded": sorted(k for k in sys.modules if k.split(".")[0] in BLOCKED), "all": m.__all__}))
`,
        { timeoutMs: 180_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { loaded: string[]; all: string[] };
      expect(out.loaded).toEqual([]);
      expect(out.all.length).toBeGreaterThan(0);
    }, 200_000);
  }

  it('a target whose format the dataset lacks is a usage error; so is an unknown one', async () => {
    const wdsOnly = path.join(work, 'wds-only');
    await convertSample(wdsOnly, ['--formats', 'webdataset', ...SPLIT_FLAGS]);
    await expect(renderFor({ source: wdsOnly, out: path.join(work, 'x'), targets: ['hf'] })).rejects.toThrow(UsageError);
    await expect(renderFor({ source: wdsOnly, out: path.join(work, 'x'), targets: ['hf'] })).rejects.toThrow(/needs the parquet files/);
    const r = await renderFor({ source: wdsOnly, out: path.join(work, 'y') });
    expect(r.targets).toEqual(['torch-wds']);
  }, 60_000);
});
