/**
 * A dataset without the `steps` config (`convert --configs sft`): only `sft/`, each frame written
 * once. Its sft files are the same bytes as beside steps; `datasets` reads it from the folder and
 * from the local Hub by tag (the sft config is the default); validate, loaders, push and the
 * partitioned convert take it; report and the steps-only flags refuse it in one line.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { pushDataset } from '../src/hub/push.ts';
import { startHubServer } from '../src/hub/server.ts';
import type { HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { SAMPLE, SPLIT3, convertOk, deriveExport, listFiles, runCli, sampleJsonRows } from './convert-fixtures.ts';
import type { JsonObject } from '../src/export/step.ts';
import { hashTree, testToken } from './helpers/bytes.ts';
import { runPython } from './helpers/python.ts';

const TOKEN = testToken();
const REPO = 'acme/invoices-sft-only';
const SFT = ['--history', '2', '--history-frames', '1', ...SPLIT3];

let work: string;
let hub: HubServer;
let only: string;
let both: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'sft-only-'));
  hub = await startHubServer({ dir: path.join(work, 'hub'), tokens: [{ token: TOKEN, role: 'write' }] });
  only = path.join(work, 'only');
  both = path.join(work, 'both');
  await Promise.all([convertOk(SAMPLE, only, ['--configs', 'sft', ...SFT]), convertOk(SAMPLE, both, ['--configs', 'steps,sft', ...SFT])]);
  await pushDataset({ dir: only, repo: REPO, tag: 'v1', hubUrl: hub.url, token: new HubToken(TOKEN, 'HF_TOKEN') });
}, 300_000);

afterAll(async () => {
  await hub?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const manifestOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;

describe('a dataset of the sft config only (--configs sft)', () => {
  it('writes sft/ and no data/: the same sft files as beside steps, each frame once', async () => {
    const files = await listFiles(only);
    expect(files.filter((f) => !f.startsWith('sft/'))).toEqual(['README.md', 'dataset-manifest.json']);
    const sftOnly = await hashTree(path.join(only, 'sft'));
    expect(Object.keys(sftOnly).length).toBeGreaterThan(0);
    expect(sftOnly).toEqual(await hashTree(path.join(both, 'sft')));
    const m = manifestOf(only);
    expect(m.formats).toEqual([]);
    expect(m.files.every((f) => f.config === 'sft')).toBe(true);
    expect(m.configs?.sft?.splits).toEqual(manifestOf(both).configs?.sft?.splits);
    const card = readFileSync(path.join(only, 'README.md'), 'utf8');
    const yaml = card.slice(0, card.indexOf('\n---\n', 4));
    expect(yaml).not.toContain('data/');
    expect(yaml).toContain('  - config_name: sft\n    data_files:');
    expect(yaml).toMatch(/path: sft\/test-\*\n {4}default: true/);
    expect(card).not.toContain('## Example row');
  });

  it("datasets reads it from the folder and from the Hub by tag, with or without the name 'sft'", async () => {
    const rows = Object.fromEntries(Object.entries(manifestOf(only).configs!.sft!.splits).map(([s, v]) => [s, v.rows]));
    const r = await runPython<Record<string, unknown>>(
      `
import json, sys
from datasets import load_dataset
folder, repo = sys.argv[1], sys.argv[2]
out = {}
for key, ds in [("folder", load_dataset(folder)), ("folder_sft", load_dataset(folder, "sft")),
                ("hub", load_dataset(repo, revision="v1")), ("hub_sft", load_dataset(repo, "sft", revision="v1"))]:
    out[key] = {s: len(d) for s, d in ds.items()}
    row = ds["train"][0]
    out[key + "_row"] = [sorted(row), len(row["images"]), row["completion"][0]["role"]]
print(json.dumps(out))
`,
      {
        args: [only, REPO],
        env: { HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: '0', HF_DATASETS_OFFLINE: '0', HF_HOME: path.join(work, 'hf-home'), HF_TOKEN: TOKEN },
      },
    );
    const row = [['completion', 'images', 'prompt', 'session_id', 'step', 't_ms'], 1, 'assistant'];
    for (const key of ['folder', 'folder_sft', 'hub', 'hub_sft']) {
      expect(r[key], key).toEqual(rows);
      expect(r[`${key}_row`], key).toEqual(row);
    }
  }, 300_000);

  it('validate finds it clean and counts its rows; a lost sft shard is named', async () => {
    const v = await runCli(['validate', only, '--json']);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const report = JSON.parse(v.stdout) as { clean: boolean; stats: { files: number; rows: number } };
    expect(report.clean).toBe(true);
    expect(report.stats.rows).toBe(77);
    expect(report.stats.files).toBe(manifestOf(only).files.length);
    const cut = path.join(work, 'cut');
    await convertOk(SAMPLE, cut, ['--configs', 'sft', ...SFT]);
    const lost = manifestOf(cut).files[0]!.path;
    await rm(path.join(cut, lost));
    const bad = await runCli(['validate', cut]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`${lost}: listed in dataset-manifest.json`);
  }, 300_000);

  it('validate scans the sft rows for unmasked values too: an e-mail typed in a step is found there, never echoed', async () => {
    const rows = await sampleJsonRows();
    const typed = rows.find((r) => (r.action as JsonObject).type === 'input_text')!;
    (typed.action as JsonObject).text = 'ops.lead@vendor-mail.com';
    const leaky = await deriveExport(path.join(work, 'leaky-export'), rows);
    type Report = { checks: Array<{ id: string; examples: Array<{ file: string; row?: number; message: string }> }> };
    const findings = async (configs: string) => {
      const dir = path.join(work, `leaky-${configs.replace(',', '-')}`);
      await convertOk(leaky, dir, ['--configs', configs, '--history', '2', '--split', 'train=1']);
      const v = await runCli(['validate', dir, '--json']);
      expect(v.code).toBe(1);
      expect(v.stdout + v.stderr).not.toContain('ops.lead@vendor-mail.com');
      return (JSON.parse(v.stdout) as Report).checks;
    };
    const only = await findings('sft');
    expect(only.map((c) => c.id)).toEqual(['privacy.email']);
    const ex = only[0]!.examples;
    // The completion of its own step, and the prompt (history) of the next ones.
    expect(ex.map((e) => e.message.replace(/^session \S+ step \d+: /, '').split(':')[0])).toContain('field completion.content.text');
    expect(ex.some((e) => e.message.includes('field prompt.content.text'))).toBe(true);
    expect(ex.every((e) => e.file.startsWith('sft/') && typeof e.row === 'number' && e.message.includes('[email: @***]'))).toBe(true);
    expect(ex[0]!.message).toMatch(new RegExp(`^session ${typed.session_id as string} step \\d+: field `));
    // Beside steps, both the steps row and the sft rows are named.
    const both = await findings('steps,sft');
    const files = both.find((c) => c.id === 'privacy.email')!.examples.map((e) => e.file.split('/')[0]);
    expect(new Set(files)).toEqual(new Set(['data', 'sft']));
  }, 300_000);

  it('loaders offer the sft target only; report and the steps formats refuse it in one line', async () => {
    const l = await runCli(['loaders', only, '--out', path.join(work, 'loaders')]);
    expect(l.code, l.stderr).toBe(0);
    expect((await listFiles(path.join(work, 'loaders'))).filter((f) => f.endsWith('.py'))).toEqual(['nusomi_process_invoice_sft.py']);
    const hf = await runCli(['loaders', only, '--targets', 'hf', '--out', path.join(work, 'loaders-hf')]);
    expect(hf.code).toBe(2);
    expect(hf.stderr).toContain('--targets hf: needs the parquet files, and this dataset has no steps config');

    const rep = await runCli(['report', only, '--out', path.join(work, 'report')]);
    expect(rep.code).toBe(1);
    expect(rep.stderr.trim().split('\n')).toHaveLength(1);
    expect(rep.stderr).toContain('has no steps rows to report (converted with --configs sft)');
    // A crafted manifest's config names are not echoed: the message names registry configs only.
    const crafted = path.join(work, 'crafted');
    await cp(only, crafted, { recursive: true });
    const m = manifestOf(crafted) as unknown as { configs: Record<string, unknown> };
    m.configs = { 'EVIL\u001b[31m-config': m.configs.sft };
    writeFileSync(path.join(crafted, 'dataset-manifest.json'), JSON.stringify(m));
    const bad = await runCli(['report', crafted, '--out', path.join(work, 'report-crafted')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).not.toContain('EVIL');

    const wds = await runCli(['convert', SAMPLE, '--out', path.join(work, 'wds'), '--configs', 'sft', '--formats', 'webdataset']);
    expect(wds.code).toBe(2);
    expect(wds.stderr).toContain(
      '--formats webdataset: formats of the steps config, which --configs sft leaves out; add steps to --configs',
    );
  }, 300_000);

  it('plan + 2 partitions + finalize equal the single convert byte for byte', async () => {
    const parted = path.join(work, 'parted');
    const flags = ['--configs', 'sft', ...SFT, '--max-shard-bytes', '300KB'];
    const single = path.join(work, 'single');
    await convertOk(SAMPLE, single, flags);
    await convertOk(SAMPLE, parted, [...flags, '--plan-only']);
    await Promise.all([0, 1].map((i) => convertOk(SAMPLE, parted, [...flags, '--partition', `${i}/2`])));
    await convertOk(SAMPLE, parted, [...flags, '--finalize']);
    const tree = await hashTree(parted);
    expect(Object.keys(tree).filter((f) => f.startsWith('sft/')).length).toBeGreaterThan(2);
    expect(tree).toEqual(await hashTree(single));
  }, 300_000);
});
