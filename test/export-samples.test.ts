/**
 * The bundled sample exports (samples/{jsonl,parquet,arrow,webdataset}, written by
 * scripts/make-samples.ts): the four formats read to the same steps, and `inspect` finds their
 * manifests consistent.
 */
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import { openExport } from '../src/export/read.ts';
import { repoRoot, runPython } from './helpers/python.ts';
import { collect, comparable, fixtureRows, makeJsonlExport, makeWebDatasetExport, runCli, tempDir } from './export-fixtures.ts';
import { listFiles } from './convert-fixtures.ts';

const FORMATS = ['jsonl', 'parquet', 'arrow', 'webdataset'] as const;
const sample = (f: string) => path.join(repoRoot, 'samples', f);

describe('bundled samples', () => {
  it('the four formats read to the same sequence of steps (every field, frame bytes by sha256)', async () => {
    const read: Record<string, Record<string, unknown>[]> = {};
    for (const f of FORMATS) {
      const reader = await openExport(sample(f));
      expect(reader.manifest.format).toBe(f);
      read[f] = await Promise.all((await collect(reader.steps())).map(comparable));
    }
    const jsonl = read.jsonl!;
    expect(jsonl.length).toBeGreaterThanOrEqual(30);
    expect(new Set(jsonl.map((s) => s.session_id)).size).toBeGreaterThanOrEqual(6);
    for (const f of FORMATS) expect(read[f], f).toEqual(jsonl);
  });

  for (const f of FORMATS) {
    it(`inspect --json on samples/${f} reports manifest counts that match`, async () => {
      const r = await runCli(['inspect', '--json', sample(f)]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.consistent).toBe(true);
      expect(report.frames_missing + report.frames_unreadable).toBe(0);
      for (const c of report.manifest) expect(c.ok, c.field).toBe(true);
      expect(report.rows).toBeGreaterThan(0);
    });
  }

  it('a sample whose manifest says more rows than it has: inspect exits 1 and names the count', async () => {
    const root = await tempDir();
    await cp(sample('jsonl'), root, { recursive: true });
    const m = JSON.parse(await readFile(path.join(root, 'manifest.json'), 'utf8'));
    const rows = m.rows as number;
    await writeFile(path.join(root, 'manifest.json'), JSON.stringify({ ...m, rows: rows + 5 }));
    const r = await runCli(['inspect', '--json', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`nusomi-hf: manifest rows is ${rows + 5} but the export has ${rows}\n`);
    const report = JSON.parse(r.stdout);
    expect(report.manifest.filter((c: { ok: boolean }) => !c.ok).map((c: { field: string }) => c.field)).toEqual(['rows']);
  });
});

/**
 * The fixture rows with nested values given as JSON text in some rows and as objects in others,
 * as vendors mix them (dom, viewport, action, context, prior_action, actor), and with null-valued keys.
 */
function mixedRows(): Record<string, unknown>[] {
  return fixtureRows().map((r, i) => {
    const frame = { ...(r.frame as Record<string, unknown>) };
    const context = { ...(r.context as Record<string, unknown>) };
    if (frame.dom !== null && i % 2 === 0) frame.dom = JSON.stringify(frame.dom);
    if (i === 1) frame.viewport = JSON.stringify(frame.viewport);
    if (context.prior_action !== null && i % 2 === 1) context.prior_action = JSON.stringify(context.prior_action);
    if (i === 4) context.actor = JSON.stringify(context.actor);
    // A null-valued key is the same as an absent one (Parquet/Arrow structs cannot tell them apart).
    if (i === 4) context.path = null;
    const action = i === 2 || i === 3 ? { ...(r.action as Record<string, unknown>), note: null } : r.action;
    const out: Record<string, unknown> = { ...r, frame, context, action, ...(i === 1 ? { late_field: null } : {}) };
    if (i % 3 === 0) out.action = JSON.stringify(action);
    if (i === 5) out.context = JSON.stringify(context);
    return out;
  });
}

/**
 * Parquet or Arrow made by pyarrow from the mixed rows, in two files of different shapes: the first
 * half with struct columns (frame, context; dom, action and prior_action as JSON text, whatever the
 * row held), the second with whole JSON-text columns that keep each row's own mix inside.
 */
async function mixedColumnarExport(jsonlRoot: string, format: 'parquet' | 'arrow'): Promise<string> {
  const root = await tempDir();
  await runPython(
    `
import glob, json, os, shutil, sys
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.ipc as ipc
src, dst, fmt = sys.argv[1:4]
rows = [json.loads(l) for f in sorted(glob.glob(src + '/data/*.jsonl')) for l in open(f) if l.strip()]
obj = lambda v: json.loads(v) if isinstance(v, str) else v
text = lambda v: v if isinstance(v, str) or v is None else json.dumps(v)
def structs(r):
    fr, ctx = dict(obj(r['frame'])), dict(obj(r['context']))
    fr['viewport'] = obj(fr['viewport']); fr['dom'] = text(fr['dom'])
    ctx['prior_action'] = text(ctx['prior_action']); ctx['actor'] = obj(ctx['actor'])
    return {**r, 'frame': fr, 'action': text(r['action']), 'context': ctx}
def texts(r):
    return {**r, 'frame': text(r['frame']), 'action': text(r['action']), 'context': text(r['context'])}
half = len(rows) // 2
os.makedirs(dst + '/data')
for i, part in enumerate([[structs(r) for r in rows[:half]], [texts(r) for r in rows[half:]]]):
    table = pa.Table.from_pylist(part)
    if fmt == 'parquet':
        pq.write_table(table, f'{dst}/data/part-{i:05d}.parquet')
    else:
        with pa.OSFile(f'{dst}/data/part-{i:05d}.arrow', 'wb') as f:
            w = ipc.new_file(f, table.schema); w.write_table(table); w.close()
shutil.copytree(src + '/frames', dst + '/frames')
m = json.load(open(src + '/manifest.json')); m['format'] = fmt; m['shards'] = 2
json.dump(m, open(dst + '/manifest.json', 'w'))
print(json.dumps(True))
`,
    { args: [jsonlRoot, root, format] },
  );
  return root;
}

describe('mixed representations (JSON text in some rows, objects in others)', () => {
  it('read to the same steps, and convert to the same bytes, in all four input formats', async () => {
    const canonical = await makeJsonlExport();
    const jsonl = await makeJsonlExport({ rows: mixedRows() });
    const exports: Record<string, string> = {
      jsonl,
      webdataset: await makeWebDatasetExport(canonical, { rows: mixedRows() }),
      parquet: await mixedColumnarExport(jsonl, 'parquet'),
      arrow: await mixedColumnarExport(jsonl, 'arrow'),
    };
    const want = await Promise.all((await collect((await openExport(canonical)).steps())).map(comparable));
    for (const [f, root] of Object.entries(exports)) {
      const got = await Promise.all((await collect((await openExport(root)).steps())).map(comparable));
      expect(got, f).toEqual(want);
    }

    const outputs: Record<string, Map<string, string>> = {};
    for (const [f, root] of Object.entries({ canonical, ...exports })) {
      const out = path.join(await tempDir(), 'out');
      await convert({
        input: root,
        out,
        formats: ['parquet', 'arrow', 'jsonl', 'webdataset'],
        split: { split: 'train=0.5,test=0.5', seed: '0' },
        filters: {},
        frames: { workers: 1 },
        wds: {},
        onError: 'stop',
      });
      const files = new Map<string, string>();
      for (const rel of await listFiles(out)) {
        // The card and manifest name the source format; every data file must be the same.
        if (rel === 'README.md' || rel === 'dataset-manifest.json') continue;
        files.set(rel, (await readFile(path.join(out, rel))).toString('base64'));
      }
      outputs[f] = files;
      expect((await readdir(path.join(out, 'data'))).length, f).toBeGreaterThan(0);
    }
    for (const f of Object.keys(exports)) {
      expect([...outputs[f]!.keys()], f).toEqual([...outputs.canonical!.keys()]);
      for (const [rel, b64] of outputs.canonical!) expect(outputs[f]!.get(rel) === b64, `${f}: ${rel}`).toBe(true);
    }
  });
});
