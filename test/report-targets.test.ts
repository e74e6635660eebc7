/**
 * `report` on every kind of target: an export in each format, a dataset folder, the same dataset
 * on s3:// (moto_server) and on the local Hub by tag. The rows shown (assets/data.js) and the
 * thumbnails must be the same bytes wherever the dataset is read from; validate's row findings
 * link to the row in the player; bad targets and outputs are one-line errors with the right exit.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { pushDataset } from '../src/hub/push.ts';
import { startHubServer } from '../src/hub/server.ts';
import type { HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { s3ClientFor } from '../src/source/s3.ts';
import { hashTree, testToken } from './helpers/bytes.ts';
import { cliOk, runCli } from './helpers/cli.ts';
import { repoRoot } from './helpers/python.ts';
import { copySampleConversion } from './helpers/sample-cache.ts';
import { startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

const TOKEN = testToken();
let tmp: string;
let dataset: string;
let moto: RunningService;
let hub: HubServer;

interface ReportData {
  sessions: Array<[string, string, string, string, number, Array<[number, string, string, number]> | null, number]>;
  frames: Array<{ src: string; session: number; step: number; split: string }>;
}

async function reportData(dir: string): Promise<ReportData> {
  const text = await readFile(path.join(dir, 'assets/data.js'), 'utf8');
  return JSON.parse(text.replace(/^window\.NUSOMI_REPORT = /, '').replace(/;\n$/, '')) as ReportData;
}

/** What the rows shown are made of: the data and every thumbnail (index.html also has the title and findings). */
async function rowsTree(dir: string): Promise<Record<string, string>> {
  const all = await hashTree(dir);
  delete all['index.html'];
  return all;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'report-targets-'));
  dataset = await copySampleConversion(
    ['--formats', 'parquet,jsonl', '--split', 'train=0.6,validation=0.2,test=0.2', '--seed', '1'],
    path.join(tmp, 'ds'),
  );
  // A row finding for validate: an e-mail address in one row's DOM (JSONL copy).
  const f = path.join(dataset, 'jsonl/train-00000.jsonl');
  const lines = (await readFile(f, 'utf8')).split('\n');
  const row = JSON.parse(lines[3]!);
  row.dom = JSON.stringify({ email: 'someone@example.org' });
  lines[3] = JSON.stringify(row);
  await writeFile(f, lines.join('\n'));
  moto = await startMoto();
  hub = await startHubServer({ dir: path.join(tmp, 'hub'), port: 0, tokens: [{ token: TOKEN, role: 'write' }] });
}, 300_000);
afterAll(async () => {
  await moto?.stop();
  await hub?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('report targets', () => {
  it('an export in jsonl, parquet, arrow and webdataset shows the same rows and frames', async () => {
    const trees: Array<Record<string, string>> = [];
    for (const format of ['jsonl', 'parquet', 'arrow', 'webdataset']) {
      const out = path.join(tmp, `export-${format}`);
      await cliOk(['report', path.join(repoRoot, 'samples', format), '--out', out, '-q']);
      // index.html differs only by the title: each sample export has its own export_id.
      trees.push(await rowsTree(out));
    }
    expect(Object.keys(trees[0]!).length).toBeGreaterThan(80);
    for (const t of trees.slice(1)) expect(t).toEqual(trees[0]);
  });

  it('a dataset folder: splits and counts as its manifest says, labels with ids, findings linked to their row', async () => {
    const out = path.join(tmp, 'report-ds');
    await cliOk(['report', dataset, '--out', out]);
    const manifest = JSON.parse(await readFile(path.join(dataset, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
    const html = await readFile(path.join(out, 'index.html'), 'utf8');
    const count = (name: string, key: string) => Number(new RegExp(`data-count="${name}" data-key="${key}">(\\d+)<`).exec(html)?.[1]);
    for (const [split, s] of Object.entries(manifest.splits)) {
      expect(count('splits', split), split).toBe(s.rows);
      expect(count('split_sessions', split), split).toBe(s.sessions);
    }
    for (const [k, n] of Object.entries(manifest.stats.workflows)) expect(count('workflows', k)).toBe(n);
    for (const [k, n] of Object.entries(manifest.stats.action_types)) expect(count('action_types', k)).toBe(n);
    for (const [k, n] of Object.entries(manifest.stats.outcomes)) expect(count('outcomes', k)).toBe(n);
    for (const [id, name] of manifest.labels.action_type.entries())
      expect(html).toContain(`<tr><td class="n">${id}</td><td>${name}</td></tr>`);
    // The planted e-mail: validate's finding links to that row in the player.
    const finding = /<div class="finding finding-error" data-check="(privacy\.[a-z_]+)">.*?<\/div>/s.exec(html);
    expect(finding, 'a privacy finding').not.toBeNull();
    const link = /data-session="(\d+)" data-step="(\d+)"/.exec(finding![0]);
    expect(link, 'a link to the row').not.toBeNull();
    const data = await reportData(out);
    const planted = JSON.parse((await readFile(path.join(dataset, 'jsonl/train-00000.jsonl'), 'utf8')).split('\n')[3]!);
    const session = data.sessions[Number(link![1])]!;
    expect(session[0]).toBe(planted.session_id);
    expect(session[5]![Number(link![2])]![0]).toBe(planted.t_ms);
  });

  it('the same dataset on s3:// and on the local Hub by tag shows the same rows and frames', async () => {
    const local = path.join(tmp, 'report-local');
    await cliOk(['report', dataset, '--out', local, '-q']);
    const s3 = s3ClientFor(moto.env);
    await s3.send(new CreateBucketCommand({ Bucket: 'datasets' }));
    for (const e of await readdir(dataset, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const full = path.join(e.parentPath, e.name);
      const key = `v1/${path.relative(dataset, full).split(path.sep).join('/')}`;
      await s3.send(new PutObjectCommand({ Bucket: 'datasets', Key: key, Body: await readFile(full) }));
    }
    const fromS3 = path.join(tmp, 'report-s3');
    await cliOk(['report', 's3://datasets/v1/', '--out', fromS3, '-q'], moto.env);
    expect(await rowsTree(fromS3)).toEqual(await rowsTree(local));
    expect(await readFile(path.join(fromS3, 'index.html'), 'utf8')).toContain('data-check="privacy.');

    await pushDataset({ dir: dataset, repo: 'acme/report-sample', tag: 'v1', hubUrl: hub.url, token: new HubToken(TOKEN, 'HF_TOKEN') });
    const fromHub = path.join(tmp, 'report-hub');
    const r = await cliOk(['report', 'hf://datasets/acme/report-sample@v1', '--hub-url', hub.url, '--out', fromHub]);
    expect(r.stdout).toContain('report of the dataset');
    expect(await rowsTree(fromHub)).toEqual(await rowsTree(local));
    expect(await readFile(path.join(fromHub, 'index.html'), 'utf8')).toContain('<h1 id="title">acme/report-sample@v1</h1>');
  });

  it('a dataset with sft and episodes configs shows the steps rows, as one without them', async () => {
    const sample = path.join(repoRoot, 'samples', 'jsonl');
    const [plain, withConfigs] = [path.join(tmp, 'ds-plain'), path.join(tmp, 'ds-configs')];
    await cliOk(['convert', sample, '--out', plain, '--formats', 'parquet']);
    await cliOk(['convert', sample, '--out', withConfigs, '--formats', 'parquet', '--configs', 'steps,sft,episodes']);
    const [a, b] = [path.join(tmp, 'report-plain'), path.join(tmp, 'report-configs')];
    await cliOk(['report', plain, '--out', a, '--no-validate']);
    await cliOk(['report', withConfigs, '--out', b, '--no-validate']);
    expect(await rowsTree(b)).toEqual(await rowsTree(a));
  });

  it('--max-frames bounds the sample: whole sessions in hash order, the last cut short, the same every time', async () => {
    const a = path.join(tmp, 'report-max-a');
    const b = path.join(tmp, 'report-max-b');
    await cliOk(['report', dataset, '--out', a, '--max-frames', '12', '--no-validate', '-q']);
    await cliOk(['report', dataset, '--out', b, '--max-frames', '12', '--no-validate', '-q']);
    expect(await hashTree(a)).toEqual(await hashTree(b));
    const data = await reportData(a);
    // The rule, computed here from the ids: sessions whose sha256 is under 1.5 × 12 / 77 rows are
    // candidates; in hash order they fill the 12 frames whole, the last one cut short.
    const frac = (id: string) => Number.parseInt(createHash('sha256').update(id).digest('hex').slice(0, 13), 16) / 2 ** 52;
    const hash = (id: string) => createHash('sha256').update(id).digest('hex');
    const candidates = data.sessions
      .map((s, i) => ({ i, id: s[0], steps: s[4] }))
      .filter((c) => frac(c.id) < (1.5 * 12) / 77)
      .sort((x, y) => (hash(x.id) < hash(y.id) ? -1 : 1));
    const want = new Map<number, number>();
    let budget = 12;
    for (const c of candidates) {
      if (budget <= 0) break;
      want.set(c.i, Math.min(c.steps, budget));
      budget -= want.get(c.i)!;
    }
    expect(want.size).toBeGreaterThan(0);
    const picked = new Map<number, number>();
    for (const f of data.frames) {
      picked.set(f.session, (picked.get(f.session) ?? 0) + 1);
      expect(f.step).toBeLessThan(want.get(f.session) ?? 0);
    }
    expect(picked).toEqual(want);
    expect(Object.keys(await hashTree(a)).filter((p) => p.startsWith('assets/frames/'))).toHaveLength(data.frames.length);
  });

  it('bad targets and outputs: one line, exit 1 for bad input, 2 for usage', async () => {
    const missing = await runCli(['report', path.join(tmp, 'nope'), '--out', path.join(tmp, 'o1')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const neither = await runCli(['report', path.join(repoRoot, 'samples'), '--out', path.join(tmp, 'o2')]);
    expect(neither.code).toBe(1);
    expect(neither.stderr).toMatch(/^nusomi-hf: error: .*samples: neither dataset-manifest\.json .* nor manifest\.json/);
    const taken = await runCli(['report', dataset, '--out', path.join(repoRoot, 'src')]);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain('holds files that are not a report');
    const badHub = await runCli(['report', 'hf://datasets/acme', '--out', path.join(tmp, 'o3')]);
    expect(badHub.code).toBe(2);
  });
});
