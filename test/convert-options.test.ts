/**
 * `convert` options on exports derived from the bundled sample: row groups past 100 rows,
 * --split-by, --labels-from, every filter, --on-error, --max-side (clicks land on the same drawn
 * control), through the CLI as a child process and read back with pyarrow / PIL or as JSONL.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../src/export/step.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { controlsFor } from '../scripts/sample-ui.ts';
import { SAMPLE, convertOk, deriveExport, runCli, sampleJsonRows, sourceRows, tempDir } from './convert-fixtures.ts';
import type { SourceRow } from './convert-fixtures.ts';
import { runPython } from './helpers/python.ts';

let work: string;
let rows: JsonObject[];
let source: Map<string, SourceRow>;

beforeAll(async () => {
  work = await tempDir();
  rows = await sampleJsonRows();
  source = await sourceRows(SAMPLE);
});

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
/** The `context` fields these tests read or set. */
interface Ctx {
  workflow?: string;
  outcome?: string;
  path?: string;
  started_at?: string;
  tags?: string[];
  actor: { kind: string };
}
/** The fields of a JSONL output row these tests read. */
interface JsonlRow {
  session_id: string;
  t_ms: number;
  workflow: string;
}
/** The fields of a source `action` the --max-side test reads. */
interface ClickAction {
  type: string;
  x: number;
  y: number;
  target?: { name?: string };
}

const ctx = (r: JsonObject) => r.context as unknown as Ctx;
const key = (r: object) => {
  const o = r as Record<string, unknown>;
  return `${String(o.session_id)}/${String(o.t_ms)}`;
};
const byOrder = (a: JsonObject, b: JsonObject) =>
  a.session_id === b.session_id ? Number(a.t_ms) - Number(b.t_ms) : String(a.session_id) < String(b.session_id) ? -1 : 1;

async function manifestOf(out: string): Promise<DatasetManifest> {
  return JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
}

/** Rows of the JSONL output per split, in file order. */
async function jsonlRows(out: string): Promise<Record<string, JsonlRow[]>> {
  const res: Record<string, JsonlRow[]> = {};
  for (const f of (await readdir(path.join(out, 'jsonl'))).filter((n) => n.endsWith('.jsonl')).sort()) {
    const split = f.replace(/-\d{5}\.jsonl$/, '');
    const text = await readFile(path.join(out, 'jsonl', f), 'utf8');
    (res[split] ??= []).push(
      ...text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as JsonlRow),
    );
  }
  return res;
}

describe('convert: row groups and splits on bigger and multi-workflow exports', () => {
  it('a 308-row split is written in row groups of at most 100 rows that pyarrow reads back in order', async () => {
    // Four copies of every sample session under new ids (frames shared).
    const big = rows
      .flatMap((r) => ['a', 'b', 'c', 'd'].map((s) => ({ ...clone(r), session_id: `${String(r.session_id)}${s}` })))
      .sort(byOrder);
    const exp = await deriveExport(path.join(work, 'big-export'), big);
    const out = path.join(work, 'big');
    await convertOk(exp, out, ['--formats', 'parquet', '--split', 'train=1']);
    const got = await runPython<{ groups: number[]; keys: string[] }>(
      `
import glob, json, sys
import pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + '/data/*.parquet'))
groups, keys = [], []
for f in files:
    pf = pq.ParquetFile(f)
    groups += [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    t = pf.read(columns=['session_id', 't_ms'])
    keys += [f'{s}/{t}' for s, t in zip(t.column('session_id').to_pylist(), t.column('t_ms').to_pylist())]
print(json.dumps({'groups': groups, 'keys': keys}))
`,
      { args: [out] },
    );
    expect(got.groups.reduce((a, b) => a + b, 0)).toBe(308);
    expect(got.groups.length).toBeGreaterThan(3);
    expect(Math.max(...got.groups)).toBeLessThanOrEqual(100);
    expect(got.keys).toEqual(big.map(key));
  });

  it('--split-by workflow keeps each workflow in one split (ratios over values, or a value mapping)', async () => {
    const sessions = [...new Set(rows.map((r) => String(r.session_id)))].sort();
    const refunds = new Set(sessions.slice(4));
    const two = rows.map((r) => {
      const c = clone(r);
      if (refunds.has(String(c.session_id))) ctx(c).workflow = 'approve_refund';
      return c;
    });
    const exp = await deriveExport(path.join(work, 'two-workflows'), two);
    const mapped = path.join(work, 'split-by-map');
    await convertOk(exp, mapped, ['--formats', 'jsonl', '--split-by', 'workflow', '--split', 'train=*,test=approve_refund']);
    const m = await jsonlRows(mapped);
    expect(new Set(m.test!.map((r) => r.workflow))).toEqual(new Set(['approve_refund']));
    expect(new Set(m.train!.map((r) => r.workflow))).toEqual(new Set(['process_invoice']));
    expect(m.test!.length + m.train!.length).toBe(77);

    for (const seed of ['0', '1', '2']) {
      const out = path.join(work, `split-by-ratio-${seed}`);
      await convertOk(exp, out, ['--formats', 'jsonl', '--split-by', 'workflow', '--split', 'train=0.5,test=0.5', '--seed', seed]);
      const splitOf = new Map<string, string>();
      for (const [split, rs] of Object.entries(await jsonlRows(out))) {
        for (const r of rs) {
          expect(splitOf.get(r.workflow) ?? split).toBe(split);
          splitOf.set(r.workflow, split);
        }
      }
      expect(splitOf.size).toBe(2);
    }
  });
});

describe('convert: stable labels', () => {
  it('--labels-from keeps the earlier ids when a new action type appears, and appends and reports it', async () => {
    const first = path.join(work, 'labels-v1');
    await convertOk(SAMPLE, first, ['--formats', 'parquet', '--split', 'train=1']);
    const v1 = await manifestOf(first);
    const zoomed = rows.map((r) => {
      const c = clone(r);
      if ((c.action as JsonObject).type === 'key') c.action = { type: 'zoom', factor: 1.25 };
      return c;
    });
    const exp = await deriveExport(path.join(work, 'zoom-export'), zoomed);
    const second = path.join(work, 'labels-v2');
    const run = await convertOk(exp, second, [
      '--formats',
      'parquet',
      '--split',
      'train=1',
      '--labels-from',
      path.join(first, 'dataset-manifest.json'),
    ]);
    const v2 = await manifestOf(second);
    expect(v2.labels.action_type).toEqual([...v1.labels.action_type, 'zoom']);
    expect(v2.labels.outcome).toEqual(v1.labels.outcome);
    expect(v2.labels_appended).toEqual({ action_type: ['zoom'], outcome: [] });
    expect(run.stderr).toMatch(/warning: labels appended.*zoom/);
    expect(await readFile(path.join(second, 'README.md'), 'utf8')).toContain('"zoom"');
    // The stored ids: every type keeps its v1 id, zoom gets the next one.
    const ids = await runPython<Array<[string, number, number]>>(
      `
import glob, json, sys
import pyarrow.parquet as pq
t = pq.read_table(sorted(glob.glob(sys.argv[1] + '/data/*.parquet')), columns=['session_id', 't_ms', 'action'])
print(json.dumps([[r['session_id'], r['t_ms'], r['action']['type']] for r in t.to_pylist()]))
`,
      { args: [second] },
    );
    expect(ids.length).toBe(77);
    const typeOf = new Map(zoomed.map((r) => [key(r), String((r.action as JsonObject).type)]));
    for (const [sid, t, id] of ids) {
      const name = typeOf.get(`${sid}/${t}`)!;
      expect(id).toBe(name === 'zoom' ? v1.labels.action_type.length : v1.labels.action_type.indexOf(name));
    }
    expect(ids.some(([, , id]) => id === v1.labels.action_type.length)).toBe(true);
  });

  it('a pinned vocabulary in another order decides the ids (datasets decodes the names to the source types)', async () => {
    const pin = path.join(work, 'pin.json');
    const pinned = {
      labels: { action_type: ['navigate', 'wait', 'scroll', 'click', 'input_text'], outcome: ['error', 'abandoned', 'success'] },
    };
    await writeFile(pin, JSON.stringify(pinned));
    const out = path.join(work, 'pinned');
    const run = await convertOk(SAMPLE, out, ['--formats', 'parquet', '--split', 'train=1', '--labels-from', pin]);
    const m = await manifestOf(out);
    expect(m.labels.action_type.slice(0, 5)).toEqual(pinned.labels.action_type);
    // Types of the data the pin lacks come after it (the known ones in their known order), and are reported.
    expect(m.labels.action_type.slice(5)).toEqual(['double_click', 'right_click', 'key', 'drag', 'hover', 'select']);
    expect(m.labels.outcome).toEqual(pinned.labels.outcome);
    expect(new Set(m.labels_appended.action_type)).toEqual(new Set(['double_click', 'drag', 'key']));
    expect(m.labels_appended.outcome).toEqual([]);
    expect(run.stderr).toContain('labels appended');
    const got = await runPython<Array<[string, number, string, number, string]>>(
      `
import json, sys, datasets
ds = datasets.load_dataset(sys.argv[1], split='train')
f = ds.features
print(json.dumps([[r['session_id'], r['t_ms'], f['action']['type'].int2str(r['action']['type']), r['action']['type'], f['outcome'].int2str(r['outcome'])] for r in ds.remove_columns('image')]))
`,
      { args: [out], env: { HF_HOME: path.join(work, 'hf-home') } },
    );
    expect(got.length).toBe(77);
    for (const [sid, t, typeName, typeId, outcome] of got) {
      const src = source.get(`${sid}/${t}`)!.row;
      expect(typeName).toBe((src.action as JsonObject).type);
      expect(typeId).toBe(m.labels.action_type.indexOf(String((src.action as JsonObject).type)));
      expect(outcome).toBe(ctx(src).outcome);
    }
  });
});

describe('convert: filters', () => {
  const all = () => [...source.values()].map((s) => s.row);
  const sessionsOf = (rs: JsonObject[]) => new Map(rs.map((r) => [String(r.session_id), rs.filter((x) => x.session_id === r.session_id)]));

  async function kept(
    args: string[],
    input = SAMPLE,
    name = args.join('_').replace(/[^\w]+/g, '_'),
  ): Promise<{ keys: string[]; manifest: DatasetManifest; card: string }> {
    const out = path.join(work, `filter-${name}`);
    await convertOk(input, out, ['--formats', 'jsonl', '--split', 'train=1', ...args]);
    const rs = (await jsonlRows(out)).train ?? [];
    return { keys: rs.map(key), manifest: await manifestOf(out), card: await readFile(path.join(out, 'README.md'), 'utf8') };
  }
  const expectKeys = (rs: JsonObject[]) => rs.map(key);

  it('--outcome, --actor-kind, --tag, --path keep exactly the rows whose context matches', async () => {
    const cases: Array<[string[], (r: JsonObject) => boolean]> = [
      [['--outcome', 'success'], (r) => ctx(r).outcome === 'success'],
      [['--outcome', 'error,abandoned'], (r) => ctx(r).outcome !== 'success'],
      [['--actor-kind', 'model'], (r) => ctx(r).actor.kind === 'model'],
      [['--tag', 'vendor_new'], (r) => (ctx(r).tags as string[]).includes('vendor_new')],
      [['--path', String(ctx(rows[0]!).path)], (r) => ctx(r).path === ctx(rows[0]!).path],
    ];
    for (const [args, pred] of cases) {
      const want = all().filter(pred);
      expect(want.length, args.join(' ')).toBeGreaterThan(0);
      expect(want.length, args.join(' ')).toBeLessThan(77);
      const got = await kept(args);
      expect(got.keys, args.join(' ')).toEqual(expectKeys(want));
      expect(Object.values(got.manifest.filtered).reduce((a, b) => a + b, 0)).toBe(77 - want.length);
      expect(got.card).toContain('convert filters: ');
      expect(got.card).not.toContain('convert filters: none');
    }
  });

  it('--since/--until on context.started_at, --min/--max-duration-ms on the session span, --exclude-sessions', async () => {
    const starts = [...new Set(all().map((r) => String(ctx(r).started_at)))].sort();
    const mid = starts[Math.floor(starts.length / 2)]!;
    let got = await kept(['--since', mid]);
    expect(got.keys).toEqual(expectKeys(all().filter((r) => String(ctx(r).started_at) >= mid)));
    got = await kept(['--until', mid]);
    expect(got.keys).toEqual(expectKeys(all().filter((r) => String(ctx(r).started_at) < mid)));

    const span = new Map([...sessionsOf(all())].map(([id, rs]) => [id, Number(rs.at(-1)!.t_ms) - Number(rs[0]!.t_ms)]));
    const spans = [...span.values()].sort((a, b) => a - b);
    const cut = spans[Math.floor(spans.length / 2)]!;
    got = await kept(['--min-duration-ms', String(cut)]);
    expect(got.keys).toEqual(expectKeys(all().filter((r) => span.get(String(r.session_id))! >= cut)));
    got = await kept(['--max-duration-ms', String(cut - 1)]);
    expect(got.keys).toEqual(expectKeys(all().filter((r) => span.get(String(r.session_id))! <= cut - 1)));

    const drop = [...span.keys()].slice(0, 2);
    const file = path.join(work, 'exclude.txt');
    await writeFile(file, `# held back\n${drop.join('\n')}\n`);
    got = await kept(['--exclude-sessions', file], SAMPLE, 'exclude');
    expect(got.keys).toEqual(expectKeys(all().filter((r) => !drop.includes(String(r.session_id)))));
    expect(got.manifest.filtered).toEqual({ exclude_sessions: 77 - got.keys.length });
  });

  it('--workflow keeps one workflow; --frames action-only drops frames without an action', async () => {
    const mixed = rows.map((r, i) => {
      const c = clone(r);
      if (i % 2) ctx(c).workflow = 'approve_refund';
      if (i % 5 === 0) c.action = { type: 'none' };
      return c;
    });
    const exp = await deriveExport(path.join(work, 'mixed-export'), mixed);
    let got = await kept(['--workflow', 'approve_refund'], exp, 'workflow');
    expect(got.keys).toEqual(expectKeys(mixed.filter((r) => ctx(r).workflow === 'approve_refund')));
    got = await kept(['--frames', 'action-only'], exp, 'action-only');
    expect(got.keys).toEqual(expectKeys(mixed.filter((r) => (r.action as JsonObject).type !== 'none')));
    expect(got.manifest.filtered).toEqual({ frames: 16 });
  });

  it('a filter on a field the rows lack is a clear usage error (exit 2, no stack trace)', async () => {
    const noPath = rows.map((r) => {
      const c = clone(r);
      delete ctx(c).path;
      return c;
    });
    const exp = await deriveExport(path.join(work, 'no-path-export'), noPath);
    const r = await runCli(['convert', exp, '--out', path.join(work, 'no-path'), '--path', 'approve_path']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--path needs context.path');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('convert: bad rows', () => {
  it('--on-error skip skips and counts a non-JSON line and a missing frame, and the card and manifest say so; without it exit 1 naming file and line', async () => {
    const lines: Array<JsonObject | string> = rows.map(clone);
    const gone = lines[10] as JsonObject & { frame: JsonObject };
    gone.frame.image_url = String(gone.frame.image_url).replace(/\.webp$/, '-gone.webp');
    lines.splice(3, 0, '{"session_id": "ses_broken", ');
    const exp = await deriveExport(path.join(work, 'bad-export'), lines);

    const stop = await runCli(['convert', exp, '--out', path.join(work, 'bad-stop')]);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain('data/part-00000.jsonl: line 4:');
    expect(stop.stderr).not.toMatch(/\n\s+at /);

    const out = path.join(work, 'bad-skip');
    const run = await convertOk(exp, out, ['--on-error', 'skip', '--formats', 'jsonl', '--split', 'train=1']);
    const m = await manifestOf(out);
    expect(m.skipped.count).toBe(2);
    expect(m.skipped.reasons).toEqual({ 'frame cannot be read': 1, 'not a JSON object': 1 });
    expect(m.splits.train!.rows).toBe(76);
    expect((await jsonlRows(out)).train!.map(key)).not.toContain(key(gone));
    const card = await readFile(path.join(out, 'README.md'), 'utf8');
    expect(card).toContain('skipped as bad input (`--on-error skip`): 2 (frame cannot be read: 1; not a JSON object: 1)');
    expect(run.stdout).toContain('skipped 2 bad rows');
  });
});

describe('convert --max-side 720', () => {
  it('every click lands on the same drawn control in the stored image, and x_norm/y_norm are relative to it', async () => {
    const out = path.join(work, 'max-side');
    await convertOk(SAMPLE, out, ['--formats', 'parquet', '--split', 'train=1', '--max-side', '720']);
    const got = await runPython<
      Array<{ id: string; t: number; x: number; y: number; xn: number; yn: number; w: number; h: number; rgb: number[] }>
    >(
      `
import glob, io, json, sys
import pyarrow.parquet as pq
from PIL import Image
res = []
for f in sorted(glob.glob(sys.argv[1] + '/data/*.parquet')):
    for r in pq.read_table(f, columns=['session_id', 't_ms', 'image', 'action']).to_pylist():
        a = r['action']
        if a['x'] is None or a['y'] is None:
            continue
        im = Image.open(io.BytesIO(r['image']['bytes'])).convert('RGB')
        res.append({'id': r['session_id'], 't': r['t_ms'], 'x': a['x'], 'y': a['y'], 'xn': a['x_norm'], 'yn': a['y_norm'], 'w': im.width, 'h': im.height, 'rgb': list(im.getpixel((a['x'], a['y'])))})
print(json.dumps(res))
`,
      { args: [out] },
    );
    const hex = (f: string) => [1, 3, 5].map((i) => parseInt(f.slice(i, i + 2), 16));
    let clicks = 0;
    for (const g of got) {
      const src = source.get(`${g.id}/${g.t}`)!.row;
      const a = src.action as unknown as ClickAction;
      const vp = (src.frame as { viewport: { w: number; h: number } }).viewport;
      expect(Math.max(g.w, g.h)).toBe(720);
      expect(g.w / g.h).toBeCloseTo(vp.w / vp.h, 2);
      expect(g.xn).toBe(Math.fround(g.x / g.w));
      expect(g.yn).toBe(Math.fround(g.y / g.h));
      if (!['click', 'double_click', 'right_click', 'input_text'].includes(a.type) || a.target?.name === undefined) continue;
      const controls = controlsFor(vp);
      const under = controls.find((c) => a.x >= c.rect.x && a.x < c.rect.x + c.rect.w && a.y >= c.rect.y && a.y < c.rect.y + c.rect.h);
      expect(under?.name, `${g.id} ${g.t}`).toBe(a.target.name);
      const dist = controls
        .map((c) => ({ c, d: Math.max(...hex(c.fill).map((v, i) => Math.abs(v - g.rgb[i]!))) }))
        .sort((p, q) => p.d - q.d);
      expect(dist[0]!.d, `${g.id} ${g.t} ${a.type} at ${g.x},${g.y}: ${JSON.stringify(g.rgb)}`).toBeLessThan(40);
      expect(dist[0]!.c.name, `${g.id} ${g.t}`).toBe(under!.name);
      clicks++;
    }
    expect(clicks).toBeGreaterThanOrEqual(40);
  });
});
