/**
 * `convert` on the bundled sample, checked with the real consumers: datasets (README-driven,
 * parquet files, load_from_disk, arrow files), pyarrow, polars and duckdb. One conversion shared by
 * the file; a second one (other folder) for byte-identity.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../src/export/step.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { featuresToYamlList, type Features } from '../src/hf/features.ts';
import { fromStepsRow, stepsFeatures, type StepsRow } from '../src/hf/steps-schema.ts';
import {
  SAMPLE,
  SPLIT3,
  SPLIT3_ROWS,
  convertOk,
  deriveExport,
  listFiles,
  loadWithDatasets,
  runCli,
  sha256,
  sourceRows,
  tempDir,
} from './convert-fixtures.ts';
import type { LoadedDataset, SourceRow } from './convert-fixtures.ts';
import { runPython } from './helpers/python.ts';
import { copySampleConversion } from './helpers/sample-cache.ts';

let work: string;
let out: string;
let hfHome: string;
let manifest: DatasetManifest;
let source: Map<string, SourceRow>;
let readme: LoadedDataset;

beforeAll(async () => {
  work = await tempDir();
  out = path.join(work, 'ds');
  hfHome = path.join(work, 'hf-home');
  await copySampleConversion(['--formats', 'parquet,arrow,jsonl', ...SPLIT3], out);
  manifest = JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
  source = await sourceRows(SAMPLE);
  readme = await loadWithDatasets('readme', out, hfHome);
});

const asStepsRow = (r: Record<string, unknown>) =>
  ({ ...r, image: { bytes: new Uint8Array(), path: (r.image as { path: string }).path } }) as unknown as StepsRow;

describe('convert: datasets reads the sample', () => {
  it('load_dataset(<dir>) gives the three splits with exact counts, Image and ClassLabel features named as in the manifest', () => {
    expect(Object.fromEntries(Object.entries(readme.splits).map(([k, v]) => [k, v.length]))).toEqual(SPLIT3_ROWS);
    expect(manifest.splits).toEqual({
      train: { rows: 47, sessions: 6 },
      validation: { rows: 20, sessions: 1 },
      test: { rows: 10, sessions: 1 },
    });
    expect(readme.kinds).toEqual({ image: 'Image', action_type: 'ClassLabel', outcome: 'ClassLabel' });
    expect(readme.action_type_names).toEqual(manifest.labels.action_type);
    expect(readme.outcome_names).toEqual(manifest.labels.outcome);
    expect(readme.features).toEqual(manifest.features);
  });

  it('every row equals its source step field by field, image bytes unchanged, decoding to the capture size', () => {
    let n = 0;
    for (const rows of Object.values(readme.splits)) {
      for (const r of rows) {
        const src = source.get(`${String(r.session_id)}/${String(r.t_ms)}`);
        expect(src, `${String(r.session_id)} ${String(r.t_ms)}`).toBeDefined();
        expect(fromStepsRow(asStepsRow(r), manifest.labels)).toEqual(src!.row);
        const img = r.image as { sha256: string; size: number[]; path: string };
        expect(img.sha256).toBe(src!.imageSha256);
        const vp = src!.row.frame as { viewport: { w: number; h: number } };
        expect(img.size).toEqual([vp.viewport.w, vp.viewport.h]);
        const a = r.action as { x: number | null; y: number | null; x_norm: number | null; y_norm: number | null };
        if (a.x !== null) expect(a.x_norm).toBe(Math.fround(a.x / img.size[0]!));
        if (a.y !== null) expect(a.y_norm).toBe(Math.fround(a.y / img.size[1]!));
        n++;
      }
    }
    expect(n).toBe(source.size);
  });

  it('parquet data_files (no README), load_from_disk(arrow/) and arrow data_files give the same features and rows', async () => {
    for (const mode of ['parquet', 'disk', 'arrow'] as const) {
      const other = await loadWithDatasets(mode, out, hfHome);
      expect(other.features, mode).toEqual(readme.features);
      expect(other.splits, mode).toEqual(readme.splits);
    }
  });

  it('splits are by session, rows ordered by (session_id, t_ms), step 0-based and contiguous per session', () => {
    const splitOf = new Map<string, string>();
    for (const [name, rows] of Object.entries(readme.splits)) {
      let prev: [string, number] | undefined;
      const steps = new Map<string, number>();
      for (const r of rows) {
        const id = String(r.session_id);
        const t = Number(r.t_ms);
        expect(splitOf.get(id) ?? name, id).toBe(name);
        splitOf.set(id, name);
        if (prev) expect(prev[0] < id || (prev[0] === id && prev[1] < t), `${id} ${t} after ${prev.join(' ')}`).toBe(true);
        prev = [id, t];
        expect(r.step).toBe(steps.get(id) ?? 0);
        steps.set(id, Number(r.step) + 1);
      }
      expect(steps.size).toBe(manifest.splits[name]!.sessions);
    }
    expect(splitOf.size).toBe(8);
  });
});

describe('convert: the Parquet shards', () => {
  it('pyarrow, polars and duckdb read every shard; huggingface metadata = manifest features; image uncompressed, the rest snappy', async () => {
    const shards = manifest.files.filter((f) => f.format === 'parquet');
    expect(shards.map((f) => f.path)).toEqual([
      'data/test-00000-of-00001.parquet',
      'data/train-00000-of-00001.parquet',
      'data/validation-00000-of-00001.parquet',
    ]);
    const got = await runPython<Array<Record<string, unknown>>>(
      `
import json, sys
import pyarrow.parquet as pq, polars as pl, duckdb
res = []
for f in sys.argv[1:]:
    pf = pq.ParquetFile(f)
    md = pf.metadata
    codecs = {}
    for i in range(md.row_group(0).num_columns):
        c = md.row_group(0).column(i)
        codecs[c.path_in_schema] = c.compression
    res.append({
        'rows': md.num_rows,
        'row_groups': [md.row_group(i).num_rows for i in range(md.num_row_groups)],
        'hf': json.loads(md.metadata[b'huggingface']),
        'codecs': codecs,
        'polars': pl.read_parquet(f).height,
        'polars_ids': pl.read_parquet(f, columns=['session_id', 't_ms']).rows(),
        'duckdb': duckdb.sql(f"select count(*), count(distinct session_id), sum(octet_length(image.bytes)) from read_parquet('{f}')").fetchone(),
    })
print(json.dumps(res, default=str))
`,
      { args: shards.map((f) => path.join(out, f.path)) },
    );
    got.forEach((g, i) => {
      const f = shards[i]!;
      expect(g.rows).toBe(f.rows);
      expect(g.polars).toBe(f.rows);
      expect((g.row_groups as number[]).every((n) => n <= 100)).toBe(true);
      expect(g.hf).toEqual({ info: { features: manifest.features } });
      const codecs = g.codecs as Record<string, string>;
      expect(codecs['image.bytes']).toBe('UNCOMPRESSED');
      expect(codecs['session_id']).toBe('SNAPPY');
      const split = f.split!;
      const expected = readme.splits[split]!;
      expect(g.polars_ids).toEqual(expected.map((r) => [r.session_id, r.t_ms]));
      const [count, sessions] = g.duckdb as [number, number, number];
      expect([count, sessions]).toEqual([f.rows, manifest.splits[split]!.sessions]);
    });
  });
});

/** The YAML header fields of the dataset card this test reads. */
interface CardYaml {
  configs: unknown;
  dataset_info: { features: unknown; splits: Array<{ name: string; num_examples: number }> };
}

describe('convert: the dataset card', () => {
  it('YAML: one parquet config with data_files per split, dataset_info features and exact num_examples', async () => {
    const card = await readFile(path.join(out, 'README.md'), 'utf8');
    const m = /^---\n([\s\S]*?)\n---\n/.exec(card);
    expect(m).not.toBeNull();
    const yaml = parseYaml(m![1]!) as CardYaml;
    expect(yaml.configs).toEqual([
      { config_name: 'default', data_files: ['train', 'validation', 'test'].map((s) => ({ split: s, path: `data/${s}-*` })) },
    ]);
    expect(yaml.dataset_info.features).toEqual(featuresToYamlList(stepsFeatures(manifest.labels) as Features));
    expect(yaml.dataset_info.splits.map((s) => [s.name, s.num_examples])).toEqual([
      ['train', 47],
      ['validation', 20],
      ['test', 10],
    ]);
  });

  it('prose: export id, filters, counts per split / workflow / outcome / action type / viewport, an example row, load snippets', async () => {
    const card = await readFile(path.join(out, 'README.md'), 'utf8');
    const src = JSON.parse(await readFile(path.join(SAMPLE, 'manifest.json'), 'utf8')) as Record<string, string>;
    expect(card).toContain(src.export_id!);
    expect(card).toContain(src.filter_summary!);
    expect(card).toContain('convert filters: none');
    for (const line of [
      '| train | 47 | 6 |',
      '| validation | 20 | 1 |',
      '| test | 10 | 1 |',
      '| process_invoice | 77 |',
      '| abandoned | 30 |',
      '| click | 21 |',
      '| 1440×900 | 47 |',
      '| 1920×1080 | 30 |',
    ]) {
      expect(card).toContain(line);
    }
    expect(card).toMatch(/## Example row[\s\S]*"session_id": "ses_/);
    expect(card).toContain('load_dataset(');
    expect(card).toContain('load_from_disk(');
    expect(card).toContain('DataLoader(');
  });
});

/** A line of the sample's JSONL export, with the fields the atomicity test reads typed. */
type SampleLine = JsonObject & { session_id: string; t_ms: number; frame: JsonObject & { image_url: string } };

describe('convert: determinism and atomicity', () => {
  it('two runs into different folders give byte-identical files, README and manifest included; no temp files left', async () => {
    const a = path.join(work, 'det-a');
    const b = path.join(work, 'det-b');
    const args = ['--formats', 'parquet,arrow,jsonl,webdataset', ...SPLIT3];
    await convertOk(SAMPLE, a, args);
    await convertOk(SAMPLE, b, args);
    const files = await listFiles(a);
    expect(await listFiles(b)).toEqual(files);
    expect(files.filter((f) => f.includes('.tmp'))).toEqual([]);
    for (const f of ['README.md', 'dataset-manifest.json', 'data/train-00000-of-00001.parquet', 'arrow/train/state.json'])
      expect(files).toContain(f);
    for (const f of files)
      expect(sha256(new Uint8Array(await readFile(path.join(b, f)))), f).toBe(sha256(new Uint8Array(await readFile(path.join(a, f)))));
    // Every file but the card and the manifest is listed in the manifest, with its true size.
    const m = JSON.parse(await readFile(path.join(a, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
    expect(m.files.map((f) => f.path).sort()).toEqual(files.filter((f) => f !== 'README.md' && f !== 'dataset-manifest.json'));
    expect(JSON.stringify(m)).not.toContain(work);
  });

  it('a failed run names the file and step, exits 1 without a stack trace, and leaves the earlier dataset as it was', async () => {
    const dir = await copySampleConversion(SPLIT3, path.join(work, 'atomic'));
    const before = await listFiles(dir);
    const manifestBefore = await readFile(path.join(dir, 'dataset-manifest.json'));
    const rows = (await readFile(path.join(SAMPLE, 'data', 'part-00000.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as SampleLine);
    rows[1]!.frame.image_url = rows[1]!.frame.image_url.replace(/\.webp$/, '-missing.webp');
    const broken = await deriveExport(path.join(work, 'broken-export'), rows);
    const r = await runCli(['convert', broken, '--out', dir, ...SPLIT3]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`data/part-00000.jsonl: session ${rows[1]!.session_id} t_ms ${rows[1]!.t_ms}`);
    expect(r.stderr).toContain('cannot be read');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    // The new dataset was built beside the old one, which is untouched; nothing of the failed run is left.
    expect(await listFiles(dir)).toEqual(before);
    expect(Buffer.compare(await readFile(path.join(dir, 'dataset-manifest.json')), manifestBefore)).toBe(0);
    expect((await readdir(work)).filter((e) => e.startsWith('.atomic.'))).toEqual([]);
  });

  it('re-converting into an earlier output with other shard counts leaves no stale shards behind', async () => {
    const dir = await copySampleConversion([...SPLIT3, '--max-shard-bytes', '1MB'], path.join(work, 'reshard'));
    const before = (await listFiles(path.join(dir, 'data'))).filter((f) => f.startsWith('train-'));
    expect(before.length).toBeGreaterThan(1);
    expect(before[0]).toBe(`train-00000-of-${String(before.length).padStart(5, '0')}.parquet`);
    await convertOk(SAMPLE, dir, SPLIT3);
    expect(await listFiles(path.join(dir, 'data'))).toEqual([
      'test-00000-of-00001.parquet',
      'train-00000-of-00001.parquet',
      'validation-00000-of-00001.parquet',
    ]);
    const loaded = await loadWithDatasets('readme', dir, hfHome);
    expect(Object.fromEntries(Object.entries(loaded.splits).map(([k, v]) => [k, v.length]))).toEqual(SPLIT3_ROWS);
  });

  it('refuses an --out folder holding files it did not write (exit 2), leaving them alone', async () => {
    const dir = await copySampleConversion(SPLIT3, path.join(work, 'foreign'));
    await writeFile(path.join(dir, 'notes.txt'), 'mine');
    const r = await runCli(['convert', SAMPLE, '--out', dir, ...SPLIT3]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('notes.txt');
    expect(await readFile(path.join(dir, 'notes.txt'), 'utf8')).toBe('mine');
  });
});
