/**
 * The committed sample exports are exactly what scripts/make-samples.ts makes, every run makes the
 * same bytes, the manifests count what is really there, the rows have the shapes other parts rely
 * on, clicks land on the drawn controls, and pyarrow reads the columnar samples.
 */
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DESTINATION, makeSamples, sampleStats } from '../scripts/make-samples.ts';
import type { SampleRow } from '../scripts/make-samples.ts';
import { controlsFor } from '../scripts/sample-ui.ts';
import { finished, spawnScript } from './helpers/cli.ts';
import type { CliRun } from './helpers/cli.ts';
import { repoRoot, runPython } from './helpers/python.ts';

const samplesDir = path.join(repoRoot, 'samples');
const FORMATS = ['jsonl', 'parquet', 'arrow', 'webdataset'] as const;

async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(root, p)));
    else out.push(p);
  }
  return out.sort();
}

async function expectSameTree(a: string, b: string): Promise<void> {
  const fa = await listFiles(a);
  expect(await listFiles(b)).toEqual(fa);
  for (const f of fa) {
    const [x, y] = await Promise.all([readFile(path.join(a, f)), readFile(path.join(b, f))]);
    expect(x.equals(u8(y)), `${f} differs between ${a} and ${b}`).toBe(true);
  }
}

function runScript(args: string[]): Promise<CliRun> {
  return finished(spawnScript('scripts/make-samples.ts', args));
}

async function readJsonl(file: string): Promise<Record<string, unknown>[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function jsonlRows(root: string): Promise<SampleRow[]> {
  const files = (await listFiles(root)).filter((f) => f.startsWith('data/') && f.endsWith('.jsonl'));
  const rows: SampleRow[] = [];
  for (const f of files) rows.push(...((await readJsonl(path.join(root, f))) as unknown as SampleRow[]));
  return rows;
}

async function tarMembers(
  file: string,
): Promise<Array<{ name: string; size: number; mtime: number; uid: number; mode: number; type: string; body: Buffer }>> {
  const ex = tar.extract();
  const members: Array<{ name: string; size: number; mtime: number; uid: number; mode: number; type: string; body: Buffer }> = [];
  const done = (async () => {
    for await (const entry of ex) {
      const chunks: Uint8Array[] = [];
      for await (const c of entry) chunks.push(c as Uint8Array);
      const h = entry.header;
      members.push({
        name: h.name,
        size: h.size,
        mtime: h.mtime.getTime(),
        uid: h.uid,
        mode: h.mode,
        type: h.type,
        body: Buffer.concat(chunks),
      });
    }
  })();
  ex.end(await readFile(file));
  await done;
  return members;
}

/** Buffer typed as the Uint8Array that Buffer's own methods take (Node 20 typings vs TS 7). */
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

const hexRgb = (h: string) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];

let tmp: string;
let runA: string;
let runB: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'nusomi-samples-'));
  runA = path.join(tmp, 'a');
  runB = path.join(tmp, 'b');
  // One run in-process, one through the command line, side by side.
  const [, cli] = await Promise.all([makeSamples(runA), runScript(['--out', runB])]);
  if (cli.code !== 0) throw new Error(`make-samples failed: ${cli.stderr}`);
}, 600_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('sample exports', () => {
  it('are byte-identical across runs and equal to the committed samples/', async () => {
    await expectSameTree(runA, runB);
    await expectSameTree(runA, samplesDir);
    expect(await listFiles(samplesDir)).toContain('parquet/data/part-00000.parquet');
  });

  it('stay under 10 MB', async () => {
    let total = 0;
    for (const f of await listFiles(samplesDir)) total += (await stat(path.join(samplesDir, f))).size;
    expect(total).toBeLessThan(10 * 1024 * 1024);
  });

  it('have manifests whose counts match the rows, data files and frames really there', async () => {
    const rows = await jsonlRows(path.join(samplesDir, 'jsonl'));
    const stats = sampleStats();
    expect(rows.length).toBe(stats.rows);
    for (const format of FORMATS) {
      const root = path.join(samplesDir, format);
      const m = JSON.parse(await readFile(path.join(root, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      const files = await listFiles(root);
      const dataExt = { jsonl: '.jsonl', parquet: '.parquet', arrow: '.arrow', webdataset: '.tar' }[format];
      expect(m).toMatchObject({
        workflow: 'process_invoice',
        format,
        rows: rows.length,
        frames: rows.length,
        actions: rows.length,
        shards: files.filter((f) => f.startsWith('data/') && f.endsWith(dataExt)).length,
        destination: DESTINATION,
        created_at: '2026-05-07T14:08:11Z',
      });
      expect(Object.keys(m)).toEqual([
        'export_id',
        'workflow',
        'format',
        'rows',
        'shards',
        'shard_size_bytes',
        'frames',
        'actions',
        'filter_summary',
        'destination',
        'created_at',
      ]);
      expect(m.export_id).toMatch(/^exp_01HZ[0-9A-Z]{22}$/);
      if (format === 'jsonl' || format === 'arrow') {
        // Every row's image_url, mapped into the export root, is a file; there are no other frames.
        const frames = files.filter((f) => f.startsWith('frames/'));
        expect(frames.sort()).toEqual(rows.map((r) => r.frame.image_url.slice(DESTINATION.length)).sort());
      } else {
        expect(files.some((f) => f.startsWith('frames/'))).toBe(false);
      }
    }
    const jsonlData = (await listFiles(path.join(samplesDir, 'jsonl'))).filter((f) => f.startsWith('data/'));
    expect(jsonlData).toEqual(['data/part-00000.jsonl', 'data/part-00001.jsonl']);
  });

  it('write webdataset shards with adjacent {key}.webp/{key}.json members, fixed headers and a sidecar per tar', async () => {
    const root = path.join(samplesDir, 'webdataset');
    const rows = await jsonlRows(path.join(samplesDir, 'jsonl'));
    const seen: SampleRow[] = [];
    for (const shard of ['shard-000000', 'shard-000001']) {
      const members = await tarMembers(path.join(root, 'data', `${shard}.tar`));
      const sidecar = await readJsonl(path.join(root, 'data', `${shard}.jsonl`));
      expect(members.length).toBe(sidecar.length * 2);
      for (let i = 0; i < sidecar.length; i++) {
        const img = members[2 * i]!;
        const js = members[2 * i + 1]!;
        const { __key__: key, ...row } = sidecar[i]!;
        const r = row as unknown as SampleRow;
        expect(key).toBe(`${r.session_id}_${String(r.t_ms).padStart(9, '0')}`);
        expect([img.name, js.name]).toEqual([`${key}.webp`, `${key}.json`]);
        expect(JSON.parse(js.body.toString('utf8'))).toEqual(row);
        for (const m of [img, js]) expect([m.type, m.mode, m.uid, m.mtime]).toEqual(['file', 0o644, 0, Date.parse('2026-05-07T14:08:11Z')]);
        // The tar's image is the jsonl export's frame file, byte for byte.
        const frame = await readFile(path.join(samplesDir, 'jsonl', r.frame.image_url.slice(DESTINATION.length)));
        expect(img.body.equals(u8(frame))).toBe(true);
        seen.push(r);
      }
    }
    expect(seen).toEqual(rows);
  });

  it('hold the row shapes the readers and writers rely on', async () => {
    const rows = await jsonlRows(path.join(samplesDir, 'jsonl'));
    const sessions = new Map<string, SampleRow[]>();
    for (const r of rows) sessions.set(r.session_id, [...(sessions.get(r.session_id) ?? []), r]);
    expect(sessions.size).toBeGreaterThanOrEqual(6);
    // Ordered by (session_id, t_ms).
    for (let i = 1; i < rows.length; i++) {
      const a = rows[i - 1]!;
      const b = rows[i]!;
      expect(a.session_id < b.session_id || (a.session_id === b.session_id && a.t_ms < b.t_ms), `row ${i}`).toBe(true);
    }
    for (const [id, steps] of sessions) {
      expect(id).toMatch(/^ses_01HXY[0-9A-HJKMNP-TV-Z]{21}$/);
      expect(steps.length).toBeGreaterThanOrEqual(5);
      expect(steps.length).toBeLessThanOrEqual(20);
      steps.forEach((s, i) => {
        expect(s.context.prior_action).toEqual(i === 0 ? null : steps[i - 1]!.action);
      });
      expect(new Set(steps.map((s) => JSON.stringify([s.context.outcome, s.context.actor, s.frame.viewport]))).size).toBe(1);
    }
    // The same key set in every row (columnar formats cannot tell absent from null).
    const keys = (r: SampleRow) => JSON.stringify([Object.keys(r), Object.keys(r.frame), Object.keys(r.context), Object.keys(r.capture)]);
    expect(new Set(rows.map(keys)).size).toBe(1);
    const count = (f: (r: SampleRow) => string) => new Set(rows.map(f));
    expect(count((r) => r.action.type)).toEqual(new Set(['click', 'double_click', 'input_text', 'key', 'scroll', 'drag', 'navigate']));
    expect(count((r) => r.context.outcome)).toEqual(new Set(['success', 'error', 'abandoned']));
    expect(count((r) => r.context.actor.kind)).toEqual(new Set(['human', 'model', 'script']));
    expect(count((r) => `${r.frame.viewport.w}x${r.frame.viewport.h}`)).toEqual(new Set(['1440x900', '1920x1080']));
    expect(rows.some((r) => r.action.type === 'input_text' && r.action.text === '[masked]')).toBe(true);
    expect(rows.some((r) => r.action.type === 'key' && r.action.key === 'Enter')).toBe(true);
    expect(rows.some((r) => r.action.type === 'key' && JSON.stringify(r.action.modifiers) === '["Control"]')).toBe(true);
    const stats = sampleStats();
    for (const [type, n] of Object.entries(stats.actionTypes)) expect(rows.filter((r) => r.action.type === type).length).toBe(n);
    for (const r of rows) {
      const a = r.action as Record<string, unknown>;
      expect(r.frame.image_url).toBe(`${DESTINATION}frames/${r.session_id}/${String(r.t_ms).padStart(9, '0')}.webp`);
      expect(typeof r.frame.dom).toBe('object');
      expect(typeof r.frame.accessibility_tree).toBe('string');
      if (a.type === 'drag') {
        const p = a.path as number[][];
        expect(p[0]).toEqual([a.x, a.y]);
        expect(p.at(-1)).toEqual([(a.to as { x: number }).x, (a.to as { y: number }).y]);
      }
      if (a.type === 'scroll') expect([a.dx, a.dy]).toEqual([0, 480]);
      if (a.type === 'navigate') expect(a.url).toMatch(/^https:\/\/app\.example\.com\/invoices\//);
    }
  });

  it('land every click on its drawn control, also after a resize to 720 px', async () => {
    const rows = await jsonlRows(path.join(samplesDir, 'jsonl'));
    const targeted = rows.filter((r) => ['click', 'double_click', 'input_text'].includes(r.action.type));
    expect(targeted.length).toBeGreaterThan(20);
    const backgrounds = ['#ffffff', '#eef0f3', '#1f2937', '#e5e7eb', '#111827'];
    for (const r of targeted) {
      const a = r.action as unknown as { x: number; y: number; target: { role: string; name: string; bbox: number[] } };
      const controls = controlsFor(r.frame.viewport);
      const c = controls.find((k) => k.name === a.target.name)!;
      expect(c, a.target.name).toBeDefined();
      expect(a.target.role).toBe(c.role);
      expect(a.target.bbox).toEqual([c.rect.x, c.rect.y, c.rect.w, c.rect.h]);
      const file = path.join(samplesDir, 'jsonl', r.frame.image_url.slice(DESTINATION.length));
      const palette = [
        ...controls.map((k) => ({ name: k.name, rgb: hexRgb(k.fill) })),
        ...backgrounds.map((b) => ({ name: b, rgb: hexRgb(b) })),
      ];
      for (const maxSide of [0, 720]) {
        let img = sharp(file).removeAlpha();
        let scale = 1;
        if (maxSide) {
          scale = maxSide / Math.max(r.frame.viewport.w, r.frame.viewport.h);
          img = img.resize(Math.round(r.frame.viewport.w * scale), Math.round(r.frame.viewport.h * scale));
        }
        const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
        const px = Math.min(info.width - 1, Math.floor(a.x * scale));
        const py = Math.min(info.height - 1, Math.floor(a.y * scale));
        const o = (py * info.width + px) * info.channels;
        const rgb = [data[o]!, data[o + 1]!, data[o + 2]!];
        const nearest = palette.reduce(
          (best, p) => {
            const d = p.rgb.reduce((s, v, i) => s + (v - rgb[i]!) ** 2, 0);
            return d < best.d ? { name: p.name, d } : best;
          },
          { name: '', d: Infinity },
        );
        expect(nearest.name, `${r.session_id} t_ms ${r.t_ms} ${a.target.name} at max side ${maxSide || 'full'}`).toBe(c.name);
      }
    }
  });

  it('give pyarrow the same rows in the parquet and arrow exports (via the Python harness)', async () => {
    const rows = await jsonlRows(path.join(samplesDir, 'jsonl'));
    const got = await runPython<
      Record<string, { rows: number; columns: string[]; frame: string[]; keys: string[][]; first_action: unknown; image_bytes: number }>
    >(
      `
import json, sys, pyarrow as pa, pyarrow.parquet as pq
root = sys.argv[1]
t = pq.read_table(root + "/parquet/data/part-00000.parquet")
a = pa.ipc.open_file(root + "/arrow/data/part-00000.arrow").read_all()
def summary(tab):
    return {"rows": tab.num_rows, "columns": tab.column_names,
            "frame": [f.name for f in tab.schema.field("frame").type],
            "keys": [[s, k] for s, k in zip(tab.column("session_id").to_pylist(), tab.column("t_ms").to_pylist())]}
p = summary(t)
p["first_action"] = json.loads(t.column("action")[1].as_py())
p["image_bytes"] = sum(len(f["image_bytes"]) for f in t.column("frame").to_pylist())
r = summary(a)
r["first_action"] = {k: v for k, v in a.column("action")[1].as_py().items() if v is not None}
print(json.dumps({"parquet": p, "arrow": r}))
`,
      { args: [samplesDir] },
    );
    const keys = rows.map((r) => [r.session_id, r.t_ms]);
    for (const format of ['parquet', 'arrow'] as const) {
      expect(got[format].rows).toBe(rows.length);
      expect(got[format].columns).toEqual(['session_id', 't_ms', 'frame', 'action', 'context', 'capture']);
      expect(got[format].keys).toEqual(keys);
      expect(got[format].first_action).toEqual(rows[1]!.action);
    }
    expect(got.parquet.frame).toEqual(['image_url', 'viewport', 'dom', 'accessibility_tree', 'device_pixel_ratio', 'image_bytes']);
    expect(got.arrow.frame).toEqual(['image_url', 'viewport', 'dom', 'accessibility_tree', 'device_pixel_ratio']);
    let frameBytes = 0;
    for (const r of rows) frameBytes += (await stat(path.join(samplesDir, 'jsonl', r.frame.image_url.slice(DESTINATION.length)))).size;
    expect(got.parquet.image_bytes).toBe(frameBytes);
  });
});

describe('large mode', () => {
  it('writes an export of N sessions × M steps with ~150 KB frames, one file per step', async () => {
    const out = path.join(tmp, 'large');
    const r = await runScript(['--sessions', '2', '--steps', '5', '--format', 'jsonl', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(m).toMatchObject({ format: 'jsonl', rows: 10, frames: 10, actions: 10, shards: 1 });
    const rows = await jsonlRows(out);
    expect(rows.length).toBe(10);
    expect(new Set(rows.map((x) => x.session_id)).size).toBe(2);
    for (const row of rows) {
      const size = (await stat(path.join(out, row.frame.image_url.slice(DESTINATION.length)))).size;
      expect(size).toBeGreaterThan(120_000);
      expect(size).toBeLessThan(200_000);
    }
  });

  it('also writes parquet (embedded frames) and arrow (IPC stream) that pyarrow reads', async () => {
    const outs: Record<string, string> = {};
    for (const format of ['parquet', 'arrow']) {
      outs[format] = path.join(tmp, `large-${format}`);
      const r = await runScript(['--sessions', '2', '--steps', '3', '--format', format, '--out', outs[format]!]);
      expect(r.code, r.stderr).toBe(0);
    }
    const got = await runPython<{ parquet: number; arrow: number; min_bytes: number }>(
      `
import json, sys, pyarrow as pa, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1] + "/data/part-00000.parquet")
a = pa.ipc.open_stream(sys.argv[2] + "/data/part-00000.arrow").read_all()
print(json.dumps({"parquet": t.num_rows, "arrow": a.num_rows, "min_bytes": min(len(f["image_bytes"]) for f in t.column("frame").to_pylist())}))
`,
      { args: [outs.parquet!, outs.arrow!] },
    );
    expect(got).toMatchObject({ parquet: 6, arrow: 6 });
    expect(got.min_bytes).toBeGreaterThan(120_000);
    expect((await listFiles(outs.arrow!)).filter((f) => f.startsWith('frames/')).length).toBe(6);
  });

  it('refuses an --out inside samples/', async () => {
    const r = await runScript(['--sessions', '1', '--steps', '3', '--out', path.join(samplesDir, 'big')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/inside samples\//);
    await expect(stat(path.join(samplesDir, 'big'))).rejects.toThrow();
  });
});
