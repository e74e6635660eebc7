/**
 * `--on-error skip` counts the rows it lost, not the errors: a tar cut in half, Parquet files with
 * a broken footer or a broken row group. The count per file comes from the sidecar, the Parquet
 * footer or the export manifest, and is "unknown" when nothing says; the CLI, card and manifest
 * say the same, and the output's row count (read back with pyarrow) adds up.
 */
import { cp, mkdir, open, readFile, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { openExport } from '../src/export/read.ts';
import { convertOk, runCli, tempDir } from './convert-fixtures.ts';
import { collect, makeJsonlExport } from './export-fixtures.ts';
import { repoRoot, runPython } from './helpers/python.ts';

const samples = path.join(repoRoot, 'samples');
let work: string;

beforeAll(async () => {
  work = await tempDir();
});

async function manifestOf(out: string): Promise<DatasetManifest> {
  return JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
}

/** Rows pyarrow reads from the Parquet output. */
async function parquetRows(out: string): Promise<number> {
  return runPython<number>(
    `
import glob, json, sys
import pyarrow.parquet as pq
print(json.dumps(sum(pq.read_metadata(f).num_rows for f in glob.glob(sys.argv[1] + '/data/*.parquet'))))
`,
    { args: [out] },
  );
}

describe('--on-error skip: rows lost in files that break', () => {
  it('a WebDataset tar cut in half: the rows it lost, counted from its sidecar, in the CLI, card and manifest', async () => {
    const exp = path.join(work, 'wds-cut');
    await cp(path.join(samples, 'webdataset'), exp, { recursive: true });
    const tar = path.join(exp, 'data', 'shard-000001.tar');
    const sidecarRows = (await readFile(path.join(exp, 'data', 'shard-000001.jsonl'), 'utf8')).trim().split('\n').length;
    const firstRows = (await readFile(path.join(exp, 'data', 'shard-000000.jsonl'), 'utf8')).trim().split('\n').length;
    await truncate(tar, Math.floor((await readFile(tar)).length / 2));

    const out = path.join(work, 'wds-cut-out');
    const run = await convertOk(exp, out, ['--on-error', 'skip', '--formats', 'parquet', '--split', 'train=1']);
    const m = await manifestOf(out);
    const written = m.splits.train!.rows;
    const lost = sidecarRows - (written - firstRows);
    expect(lost).toBeGreaterThan(1);
    expect(m.skipped.count).toBe(lost);
    expect(written + m.skipped.count).toBe(77);
    expect(m.skipped.reasons).toEqual({ 'rows lost in a file that cannot be read to its end': lost });
    expect(m.skipped.files).toEqual([
      {
        file: 'data/shard-000001.tar',
        rows_read: sidecarRows - lost,
        rows_lost: lost,
        counted_from: 'sidecar',
        message: expect.stringMatching(/^data\/shard-000001\.tar: not a readable tar archive/),
      },
    ]);
    expect(await parquetRows(out)).toBe(written);
    const line = `data/shard-000001.tar: ${lost} rows lost after ${sidecarRows - lost} rows read (count from the sidecar)`;
    expect(run.stdout).toContain(`skipped ${lost} bad rows`);
    expect(run.stdout).toContain(line);
    const card = await readFile(path.join(out, 'README.md'), 'utf8');
    expect(card).toContain(`skipped as bad input (\`--on-error skip\`): ${lost} (`);
    expect(card).toContain(line);
  });

  it('"after filters" (exit 2) only when a filter dropped the rows; an export with no rows is exit 1', async () => {
    const filtered = await runCli([
      'convert',
      path.join(samples, 'jsonl'),
      '--out',
      path.join(work, 'none-filtered'),
      '--workflow',
      'nothing',
    ]);
    expect(filtered.code).toBe(2);
    expect(filtered.stderr).toContain('no rows left to convert after filters (dropped: workflow 77)');
    const empty = path.join(work, 'empty');
    await mkdir(path.join(empty, 'data'), { recursive: true });
    await cp(path.join(samples, 'jsonl', 'manifest.json'), path.join(empty, 'manifest.json'));
    await writeFile(path.join(empty, 'data', 'part-00000.jsonl'), '');
    const r = await runCli(['convert', empty, '--out', path.join(work, 'empty-out')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no rows to convert: the export has none');
    expect(r.stderr).not.toContain('after filters');
  });

  it("two cut jsonl.gz files: each one's loss from the export manifest's files[].rows", async () => {
    const files = [0, 1, 2].map((i) => ({ path: `data/part-0000${i}.jsonl.gz`, rows: 2 }));
    const root = await makeJsonlExport({ shards: 3, gzip: true, manifest: { files } });
    for (const f of files.slice(1)) {
      const p = path.join(root, f.path);
      await truncate(p, Math.floor((await readFile(p)).length / 2));
    }
    const reader = await openExport(root, { onError: () => 'skip' });
    const steps = await collect(reader.steps());
    const lost = reader.skipped.files.map((f) => f.rowsLost ?? 0).reduce((a, n) => a + n, 0);
    expect(reader.skipped.files.map((f) => [f.file, f.countedFrom])).toEqual([
      ['data/part-00001.jsonl.gz', 'export manifest'],
      ['data/part-00002.jsonl.gz', 'export manifest'],
    ]);
    for (const f of reader.skipped.files) expect(f.rowsRead + f.rowsLost!).toBe(2);
    expect(lost).toBeGreaterThan(0);
    expect(reader.skipped.count).toBe(lost);
    expect(steps.length + lost).toBe(6);
  });

  describe('Parquet', () => {
    let parts: string;
    beforeAll(async () => {
      // The sample in three files (30, 30, 17 rows; row groups of 10), written by pyarrow.
      parts = path.join(work, 'pq-parts');
      await cp(path.join(samples, 'parquet'), parts, { recursive: true });
      await runPython(
        `
import json, os, sys
import pyarrow.parquet as pq
root = sys.argv[1]
src = root + '/data/part-00000.parquet'
t = pq.read_table(src)
os.remove(src)
offsets = []
for i, (a, b) in enumerate([(0, 30), (30, 60), (60, t.num_rows)]):
    f = f'{root}/data/part-{i:05d}.parquet'
    pq.write_table(t.slice(a, b - a), f, row_group_size=10)
m = json.load(open(root + '/manifest.json')); m['shards'] = 3
json.dump(m, open(root + '/manifest.json', 'w'))
print(json.dumps(True))
`,
        { args: [parts] },
      );
    });

    async function variant(name: string, damage: (dir: string) => Promise<void>): Promise<string> {
      const dir = path.join(work, name);
      await cp(parts, dir, { recursive: true });
      await damage(dir);
      return dir;
    }
    const cutFooter = async (file: string) => truncate(file, 1000);

    it('one file with a broken footer: what it lost is the export manifest total less every other row', async () => {
      const exp = await variant('pq-footer', (d) => cutFooter(path.join(d, 'data', 'part-00001.parquet')));
      const out = path.join(work, 'pq-footer-out');
      const run = await convertOk(exp, out, ['--on-error', 'skip', '--formats', 'parquet', '--split', 'train=1']);
      const m = await manifestOf(out);
      expect(m.skipped.count).toBe(30);
      expect(m.splits.train!.rows).toBe(47);
      expect(m.skipped.files).toMatchObject([
        { file: 'data/part-00001.parquet', rows_read: 0, rows_lost: 30, counted_from: 'export manifest' },
      ]);
      expect(run.stdout).toContain('data/part-00001.parquet: 30 rows lost after 0 rows read (count from the export manifest)');
      expect(await parquetRows(out)).toBe(47);
    });

    it('a broken row group: the rest of the file is counted from its own footer', async () => {
      const exp = await variant('pq-rowgroup', async (d) => {
        const file = path.join(d, 'data', 'part-00001.parquet');
        // Overwrite the page header of the second row group's first column chunk.
        const at = await runPython<number>(
          `
import json, sys
import pyarrow.parquet as pq
print(json.dumps(pq.read_metadata(sys.argv[1]).row_group(1).column(0).data_page_offset))
`,
          { args: [file] },
        );
        const fh = await open(file, 'r+');
        await fh.write(new Uint8Array(24).fill(0xff), 0, 24, at);
        await fh.close();
      });
      const out = path.join(work, 'pq-rowgroup-out');
      await convertOk(exp, out, ['--on-error', 'skip', '--formats', 'parquet', '--split', 'train=1']);
      const m = await manifestOf(out);
      expect(m.skipped.files).toMatchObject([
        { file: 'data/part-00001.parquet', rows_read: 10, rows_lost: 20, counted_from: 'parquet footer' },
      ]);
      expect(m.skipped.count).toBe(20);
      expect(m.splits.train!.rows).toBe(57);
      expect(await parquetRows(out)).toBe(57);
    });

    it('two files with broken footers: rows after 0 unknown for each, named in the CLI and card', async () => {
      const exp = await variant('pq-two', async (d) => {
        await cutFooter(path.join(d, 'data', 'part-00001.parquet'));
        await cutFooter(path.join(d, 'data', 'part-00002.parquet'));
      });
      const out = path.join(work, 'pq-two-out');
      const run = await convertOk(exp, out, ['--on-error', 'skip', '--formats', 'parquet', '--split', 'train=1']);
      const m = await manifestOf(out);
      expect(m.skipped.count).toBe(0);
      expect(m.skipped.files!.map((f) => [f.file, f.rows_read, f.rows_lost])).toEqual([
        ['data/part-00001.parquet', 0, null],
        ['data/part-00002.parquet', 0, null],
      ]);
      const card = await readFile(path.join(out, 'README.md'), 'utf8');
      for (const f of ['part-00001', 'part-00002']) {
        const line = `data/${f}.parquet: rows after 0 unknown`;
        expect(run.stdout).toContain(line);
        expect(card).toContain(line);
      }
    });

    it('every file unreadable and no filter given: exit 1 naming the file, not "after filters"', async () => {
      const exp = await variant('pq-none', async (d) => {
        for (const i of [0, 1, 2]) await cutFooter(path.join(d, 'data', `part-0000${i}.parquet`));
      });
      const r = await runCli(['convert', exp, '--out', path.join(work, 'pq-none-out'), '--on-error', 'skip']);
      expect(r.code).toBe(1);
      expect(r.stderr).not.toContain('after filters');
      expect(r.stderr).toMatch(/no rows to convert: none could be read .*data\/part-00000\.parquet: rows after 0 unknown/);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    });
  });
});
