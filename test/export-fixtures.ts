/**
 * Small export fixtures for the export-reading tests, built in temp dirs: a jsonl export written
 * here, and columnar variants written from it by the real producer (pyarrow) through the harness.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import tar from 'tar-stream';
import type { Step } from '../src/export/step.ts';
import { runPython } from './helpers/python.ts';

export const DESTINATION = 's3://bucket/nusomi/fixture/v1/';

export async function tempDir(prefix = 'nusomi-export-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

async function frame(i: number, w: number, h: number): Promise<Buffer> {
  return sharp({
    create: { width: Math.round(w / 8), height: Math.round(h / 8), channels: 3, background: { r: (i * 40) % 256, g: 120, b: 200 } },
  })
    .webp({ quality: 80 })
    .toBuffer();
}

/** Rows as a vendor writes them: heterogeneous action shapes, a first step with prior_action null, unknown fields. */
export function fixtureRows(): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const sessions = [
    { id: 'ses_A', outcome: 'success', actor: 'human', vp: { w: 1440, h: 900 } },
    { id: 'ses_B', outcome: 'error', actor: 'model', vp: { w: 1920, h: 1080 } },
  ];
  const actions: Record<string, unknown>[] = [
    { type: 'click', target: { role: 'button', name: 'Approve' }, x: 612, y: 388 },
    { type: 'input_text', field: 'amount', value: '[masked]' },
    { type: 'scroll', dx: 0, dy: -120.5 },
    { type: 'key', key: 'Enter', modifiers: ['ctrl'] },
  ];
  let n = 0;
  for (const s of sessions) {
    let prior: Record<string, unknown> | null = null;
    for (let k = 0; k < 3; k++) {
      const action = actions[(n + k) % actions.length]!;
      const name = `frames/${s.id}/${String(k).padStart(3, '0')}.webp`;
      rows.push({
        session_id: s.id,
        t_ms: 1000 * k + 250,
        frame: {
          image_url: DESTINATION + name,
          viewport: s.vp,
          dom: k === 1 ? null : { tag: 'form', children: [{ tag: 'button', text: 'Approve', id: k }] },
          accessibility_tree: k === 2 ? null : `button "Approve" [${k}]`,
        },
        action,
        context: {
          workflow: 'process_invoice',
          prior_action: prior,
          outcome: s.outcome,
          actor: { kind: s.actor },
          tags: ['t1', `step${k}`],
          started_at: '2026-01-02T03:04:05Z',
        },
        vendor_note: `note ${n}`,
        big_counter: 1760000000000 + n,
      });
      prior = action;
      n++;
    }
  }
  return rows;
}

export interface FixtureOptions {
  /** Frames referenced by URL under destination (default), by relative path, or none written. */
  frames?: 'destination' | 'relative' | 'none';
  rows?: Record<string, unknown>[];
  manifest?: Record<string, unknown>;
  /** Split rows over this many jsonl files. */
  shards?: number;
  gzip?: boolean;
}

/** A jsonl export in a new temp dir; returns its root. */
export async function makeJsonlExport(opts: FixtureOptions = {}): Promise<string> {
  const root = await tempDir();
  let rows = opts.rows ?? fixtureRows();
  if (opts.frames === 'relative') {
    rows = rows.map((r) => {
      const f = r.frame as Record<string, unknown>;
      return { ...r, frame: { ...f, image_url: String(f.image_url).slice(DESTINATION.length) } };
    });
  }
  if (opts.frames !== 'none') {
    for (const [i, r] of rows.entries()) {
      const f = r.frame as { image_url: string; viewport: { w: number; h: number } | string };
      const vp = typeof f.viewport === 'string' ? (JSON.parse(f.viewport) as { w: number; h: number }) : f.viewport;
      const rel = f.image_url.startsWith(DESTINATION) ? f.image_url.slice(DESTINATION.length) : f.image_url;
      await mkdir(path.join(root, path.dirname(rel)), { recursive: true });
      await writeFile(path.join(root, rel), new Uint8Array(await frame(i, vp.w, vp.h)));
    }
  }
  const shards = opts.shards ?? 1;
  await mkdir(path.join(root, 'data'), { recursive: true });
  const per = Math.ceil(rows.length / shards);
  const { gzipSync } = await import('node:zlib');
  for (let s = 0; s < shards; s++) {
    const text = rows
      .slice(s * per, (s + 1) * per)
      .map((r) => JSON.stringify(r) + '\n')
      .join('');
    const name = `data/part-${String(s).padStart(5, '0')}.jsonl${opts.gzip ? '.gz' : ''}`;
    await writeFile(path.join(root, name), opts.gzip ? new Uint8Array(gzipSync(text)) : text);
  }
  await writeManifest(root, { format: 'jsonl', rows: rows.length, frames: rows.length, actions: rows.length, shards, ...opts.manifest });
  return root;
}

export async function writeManifest(root: string, fields: Record<string, unknown>): Promise<void> {
  const m = {
    export_id: 'exp_fixture',
    workflow: 'process_invoice',
    format: 'jsonl',
    rows: 0,
    shards: 1,
    shard_size_bytes: 268435456,
    frames: 0,
    actions: 0,
    filter_summary: 'outcome in (success, error)',
    destination: DESTINATION,
    created_at: '2026-05-07T14:08:11Z',
    vendor_extra: { kept: true },
    ...fields,
  };
  await writeFile(path.join(root, 'manifest.json'), JSON.stringify(m, null, 2));
}

export type Nesting = 'struct' | 'json' | 'mixed' | 'dotted';

export interface ColumnarOptions {
  format: 'parquet' | 'arrow';
  nesting: Nesting;
  /** Parquet codec: snappy, zstd, gzip, none. */
  codec?: string;
  /** Arrow IPC file (default) or stream. */
  ipc?: 'file' | 'stream';
  /** Put frame bytes in a `frame.image_bytes` binary column (frames still read from the jsonl export). */
  embed?: boolean;
  /** Rows per row group / record batch. */
  chunk?: number;
}

/**
 * Write a parquet/arrow export with pyarrow from a jsonl export's rows (and frames): returns the new
 * root; frames/ are copied along unless embedded.
 */
export async function makeColumnarExport(jsonlRoot: string, o: ColumnarOptions): Promise<string> {
  const root = await tempDir();
  await runPython(
    `
import json, sys, os, shutil, glob
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.ipc as ipc
src, dst, o = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
dest = json.load(open(os.path.join(src, "manifest.json")))["destination"]
rows = [json.loads(l) for f in sorted(glob.glob(os.path.join(src, "data", "*.jsonl"))) for l in open(f) if l.strip()]
def img(url):
    rel = url[len(dest):] if url.startswith(dest) else url
    return open(os.path.join(src, rel), "rb").read()
nest = o["nesting"]
out = []
for r in rows:
    r = dict(r)
    fr = dict(r["frame"]); ctx = dict(r["context"])
    if o.get("embed"): fr["image_bytes"] = img(fr["image_url"])
    if nest == "json":
        if o.get("embed"):
            b = fr.pop("image_bytes"); r["frame.image_bytes"] = b
        r["frame"] = json.dumps(fr); r["action"] = json.dumps(r["action"]); r["context"] = json.dumps(ctx)
    elif nest == "mixed":
        fr["dom"] = None if fr["dom"] is None else json.dumps(fr["dom"])
        ctx["prior_action"] = None if ctx["prior_action"] is None else json.dumps(ctx["prior_action"])
        r["frame"] = fr; r["action"] = json.dumps(r["action"]); r["context"] = ctx
    elif nest == "dotted":
        flat = {}
        def walk(prefix, v, depth):
            if isinstance(v, dict) and depth < 2 and prefix not in ("frame.dom", "context.prior_action"):
                for k, x in v.items(): walk(prefix + "." + k, x, depth + 1)
            else:
                flat[prefix] = json.dumps(v) if isinstance(v, dict) else v
        for top in ("frame", "action", "context"):
            walk(top, r.pop(top) if top != "frame" else fr, 0)
        r.pop("frame", None)
        r.update(flat)
    else:
        r["frame"] = fr; r["context"] = ctx
    out.append(r)
# from_pylist takes its columns from the first row: give every row the union of keys.
keys = list(dict.fromkeys(k for r in out for k in r))
table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in out])
if "frame.image_bytes" in table.column_names:
    i = table.column_names.index("frame.image_bytes")
    table = table.set_column(i, pa.field("frame.image_bytes", pa.binary()), table.column(i).cast(pa.binary()))
os.makedirs(os.path.join(dst, "data"), exist_ok=True)
chunk = o.get("chunk") or 2
if o["format"] == "parquet":
    codec = o.get("codec") or "snappy"
    pq.write_table(table, os.path.join(dst, "data", "part-00000.parquet"), compression=codec, row_group_size=chunk)
else:
    path = os.path.join(dst, "data", "part-00000.arrow")
    with pa.OSFile(path, "wb") as f:
        w = ipc.new_file(f, table.schema) if o.get("ipc", "file") == "file" else ipc.new_stream(f, table.schema)
        for b in table.to_batches(max_chunksize=chunk): w.write_batch(b)
        w.close()
if not o.get("embed") and os.path.isdir(os.path.join(src, "frames")):
    shutil.copytree(os.path.join(src, "frames"), os.path.join(dst, "frames"))
m = json.load(open(os.path.join(src, "manifest.json")))
m["format"] = o["format"]
json.dump(m, open(os.path.join(dst, "manifest.json"), "w"), indent=2)
print(json.dumps({"schema": str(table.schema)}))
`,
    { args: [jsonlRoot, root, JSON.stringify(o)] },
  );
  return root;
}

/** A Step without its lazy/locational parts, plus the sha256 of its frame bytes: what must be equal across formats. */
export async function comparable(s: Step): Promise<Record<string, unknown>> {
  const bytes = await s.image.read();
  return {
    session_id: s.session_id,
    t_ms: s.t_ms,
    frame: s.frame,
    action: s.action,
    context: s.context,
    extra: s.extra,
    ext: s.image.ext,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export interface TarMember {
  name: string;
  body?: Uint8Array | string;
  type?: 'file' | 'symlink' | 'link' | 'directory';
  linkname?: string;
}

export async function tarBytes(members: TarMember[]): Promise<Uint8Array> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Uint8Array);
  })();
  for (const m of members) {
    await new Promise<void>((resolve, reject) => {
      const header = { name: m.name, type: m.type ?? 'file', mtime: new Date(0), ...(m.linkname ? { linkname: m.linkname } : {}) };
      const body =
        m.type && m.type !== 'file'
          ? new Uint8Array()
          : typeof m.body === 'string'
            ? new TextEncoder().encode(m.body)
            : (m.body ?? new Uint8Array());
      pack.entry(header, body, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}

/** A webdataset export of the fixture rows; `sidecar` moves the rows of shard 1 into its .jsonl sidecar. */
export async function makeWebDatasetExport(
  jsonlRoot: string,
  opts: { sidecar?: boolean; rows?: Record<string, unknown>[] } = {},
): Promise<string> {
  const root = await tempDir();
  const rows = opts.rows ?? fixtureRows();
  await mkdir(path.join(root, 'shards'), { recursive: true });
  for (const [s, part] of [rows.slice(0, 3), rows.slice(3)].entries()) {
    const members: TarMember[] = [];
    const side: string[] = [];
    for (const r of part) {
      const key = `${r.session_id}_${String(r.t_ms).padStart(9, '0')}`;
      const url = (r.frame as { image_url: string }).image_url;
      members.push({ name: `${key}.webp`, body: new Uint8Array(await readFile(path.join(jsonlRoot, url.slice(DESTINATION.length)))) });
      if (opts.sidecar && s === 1) side.push(JSON.stringify({ __key__: key, ...r }));
      else members.push({ name: `${key}.json`, body: JSON.stringify(r) });
    }
    const name = `shards/shard-${String(s).padStart(6, '0')}`;
    await writeFile(path.join(root, `${name}.tar`), await tarBytes(members));
    if (side.length) await writeFile(path.join(root, `${name}.jsonl`), side.join('\n') + '\n');
  }
  await writeManifest(root, { format: 'webdataset', rows: rows.length, frames: rows.length, actions: rows.length, shards: 2 });
  return root;
}

export { runCli } from './helpers/cli.ts';
