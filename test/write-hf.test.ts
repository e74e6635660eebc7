/**
 * The Parquet, Arrow (save_to_disk) and JSONL writers checked by their real consumers: datasets,
 * pyarrow, polars and duckdb. Synthetic steps with small noisy WebP frames (noise keeps image pages
 * large enough that the image column spans several pages, so page indexes are exercised).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Action, Step } from '../src/export/step.ts';
import { featuresToDict, huggingfaceMetadata } from '../src/hf/features.ts';
import type { Features } from '../src/hf/features.ts';
import { LabelVocab } from '../src/hf/labels.ts';
import { fromStepsRow, observeLabels, stepsFeatures, stepsRowNbytes, toStepsRow } from '../src/hf/steps-schema.ts';
import type { PreparedStep, StepsRow } from '../src/hf/steps-schema.ts';
import { LocalSink } from '../src/sink/local.ts';
import { createArrowSplitWriter, writeArrowDatasetDict, writeArrowSplit } from '../src/write/arrow.ts';
import { createJsonlSplitWriter, writeJsonlSplit } from '../src/write/jsonl.ts';
import { createParquetSplitWriter, writeParquetSplit } from '../src/write/parquet.ts';
import { drain, fanOut } from '../src/write/shards.ts';
import type { WrittenFile } from '../src/write/shards.ts';
import { runPython } from './helpers/python.ts';

const W = 160;
const H = 100;
const SPLITS = { train: { sessions: 21, shards: 3 }, test: { sessions: 15, shards: 1 } } as const;
const STEPS_PER_SESSION = 10;

async function noiseWebp(seed: number): Promise<Uint8Array> {
  const px = Buffer.alloc(W * H * 3);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    px[i] = s >>> 24;
  }
  return new Uint8Array(
    await sharp(px, { raw: { width: W, height: H, channels: 3 } })
      .webp({ quality: 80 })
      .toBuffer(),
  );
}

function actionFor(i: number): Action {
  const k = i % 7;
  if (k === 0) return { type: 'click', target: { role: 'button', name: `Approve ${i}`, bbox: [i, 2, 30, 12] }, x: i % W, y: (i * 3) % H };
  if (k === 1) return { type: 'input_text', target: { role: 'textbox', name: 'Amount' }, x: 10, y: 20, text: '[masked]' };
  if (k === 2) return { type: 'key', key: 'Enter', modifiers: ['Control'] };
  if (k === 3) return { type: 'scroll', x: 50, y: 60, dx: 0, dy: -120.5 };
  if (k === 4)
    return {
      type: 'drag',
      x: 1,
      y: 2,
      to: { x: 100, y: 90 },
      path: [
        [1, 2],
        [50, 45],
        [100, 90],
      ],
    };
  if (k === 5) return { type: 'navigate', url: `https://app.example/p/${i}` };
  return { type: 'pinch', scale: 1.25, x: 7.5, y: 8 };
}

/** Synthetic prepared steps of one split, in (session_id, t_ms) order. */
function splitSteps(split: string, sessions: number, frames: Uint8Array[]): PreparedStep[] {
  const out: PreparedStep[] = [];
  for (let s = 0; s < sessions; s++) {
    const session_id = `ses_${split}_${String(s).padStart(3, '0')}`;
    let prior: Action | null = null;
    for (let j = 0; j < STEPS_PER_SESSION; j++) {
      const n = s * STEPS_PER_SESSION + j;
      const action = actionFor(n);
      const step: Step = {
        session_id,
        t_ms: 1000 * j + (n % 3),
        frame: {
          image_url: `s3://vendor/frames/${session_id}/${j}.webp`,
          viewport: { w: 1600, h: 1000 },
          dom: j % 2 ? { tag: 'div', text: `row ${n}` } : null,
          accessibility_tree: j % 3 ? `button "Approve ${n}"` : null,
        },
        action,
        context: {
          workflow: s % 2 ? 'process_invoice' : 'triage',
          prior_action: prior,
          outcome: j === STEPS_PER_SESSION - 1 ? (s % 3 ? 'success' : 'abandoned') : 'success',
          actor: { kind: s % 2 ? 'human' : 'model' },
          tags: ['q3'],
          started_at: '2026-01-02T03:04:05Z',
        },
        extra: n % 5 === 0 ? { vendor_note: `n${n}` } : {},
        image: { ref: `frames/${n}.webp`, ext: 'webp', read: async () => frames[n % frames.length]! },
        origin: { file: `data/${split}.jsonl`, line: n + 1 },
      };
      out.push({
        step,
        action,
        prior_action: prior,
        image: {
          bytes: frames[n % frames.length]!,
          ext: 'webp',
          width: W,
          height: H,
          path: `${session_id}_${String(step.t_ms).padStart(9, '0')}.webp`,
        },
      });
      prior = action;
    }
  }
  return out;
}

async function* rowsOf(steps: PreparedStep[], labels: LabelVocab): AsyncIterable<StepsRow> {
  let session = '';
  let idx = 0;
  for (const p of steps) {
    idx = p.step.session_id === session ? idx + 1 : 0;
    session = p.step.session_id;
    yield toStepsRow(p, idx, labels);
  }
}

async function writeAll(
  root: string,
  data: Record<string, PreparedStep[]>,
  labels: LabelVocab,
  features: Features,
): Promise<WrittenFile[]> {
  const sink = new LocalSink(root);
  const files: WrittenFile[] = [];
  for (const [split, steps] of Object.entries(data)) {
    const plan = { split, totalRows: steps.length, numShards: SPLITS[split as keyof typeof SPLITS].shards, features };
    if (split === 'train') {
      files.push(...(await writeParquetSplit(sink, rowsOf(steps, labels), plan)));
      files.push(...(await writeArrowSplit(sink, rowsOf(steps, labels), plan)));
      files.push(...(await writeJsonlSplit(sink, rowsOf(steps, labels), { ...plan, numShards: 2 })));
    } else {
      // One pass feeding all three formats gives the same files.
      const all = fanOut<StepsRow>([
        createParquetSplitWriter(sink, plan),
        createArrowSplitWriter(sink, plan),
        createJsonlSplitWriter(sink, { ...plan, numShards: 2 }),
      ]);
      files.push(...(await drain(rowsOf(steps, labels), all)));
    }
  }
  files.push(await writeArrowDatasetDict(sink, Object.keys(data)));
  return files;
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p, base)));
    else out.push(path.relative(base, p));
  }
  return out.sort();
}

let tmp: string;
let outA: string;
let outB: string;
let data: Record<string, PreparedStep[]>;
let labels: LabelVocab;
let features: Features;
let filesA: WrittenFile[];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'nusomi-write-'));
  outA = path.join(tmp, 'a');
  outB = path.join(tmp, 'b');
  const frames = await Promise.all(Array.from({ length: 12 }, (_, i) => noiseWebp(i + 1)));
  data = { train: splitSteps('train', SPLITS.train.sessions, frames), test: splitSteps('test', SPLITS.test.sessions, frames) };
  labels = new LabelVocab();
  for (const steps of Object.values(data)) for (const p of steps) observeLabels(labels, p.step);
  labels.freeze();
  features = stepsFeatures(labels);
  filesA = await writeAll(outA, data, labels, features);
  await writeAll(outB, data, labels, features);
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** What datasets/pyarrow should give back for a row: JSON-able, image as sha256 + path. */
function expectedRow(r: StepsRow): Record<string, unknown> {
  return { ...r, image: { sha256: createHash('sha256').update(r.image.bytes).digest('hex'), path: r.image.path } };
}
async function expectedRows(split: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const r of rowsOf(data[split]!, labels)) out.push(expectedRow(r));
  return out;
}

const PY_ROWS = `
import hashlib
def plain(row):
    img = row["image"]
    row["image"] = {"sha256": hashlib.sha256(img["bytes"]).hexdigest(), "path": img["path"]}
    return row
`;

describe('writers', () => {
  it('names shards per the caller plan and cuts them at evenly spaced rows', () => {
    const pq = filesA.filter((f) => f.format === 'parquet');
    expect(pq.map((f) => [f.path, f.rows])).toEqual([
      ['data/train-00000-of-00003.parquet', 70],
      ['data/train-00001-of-00003.parquet', 70],
      ['data/train-00002-of-00003.parquet', 70],
      ['data/test-00000-of-00001.parquet', 150],
    ]);
    expect(filesA.filter((f) => f.format === 'arrow').map((f) => [f.path, f.rows])).toEqual([
      ['arrow/train/data-00000-of-00003.arrow', 70],
      ['arrow/train/data-00001-of-00003.arrow', 70],
      ['arrow/train/data-00002-of-00003.arrow', 70],
      ['arrow/test/data-00000-of-00001.arrow', 150],
    ]);
    expect(filesA.filter((f) => f.format === 'jsonl').map((f) => [f.path, f.rows])).toEqual([
      ['jsonl/train-00000.jsonl', 105],
      ['jsonl/train-00001.jsonl', 105],
      ['jsonl/test-00000.jsonl', 75],
      ['jsonl/test-00001.jsonl', 75],
    ]);
    expect(filesA.filter((f) => f.format === 'jsonl-frame')).toHaveLength(360);
  });

  it('reports sizes and hashes that match the files, and leaves no temp files', async () => {
    for (const f of filesA) {
      const bytes = await readFile(path.join(outA, f.path));
      expect(bytes.length).toBe(f.bytes);
      expect(createHash('sha256').update(new Uint8Array(bytes)).digest('hex')).toBe(f.sha256);
    }
    const all = await listFiles(outA);
    expect(all.filter((p) => path.basename(p).startsWith('.'))).toEqual([]);
    expect(all).toHaveLength(filesA.length);
  });

  it('is deterministic: two runs give byte-identical files', async () => {
    const a = await listFiles(outA);
    expect(await listFiles(outB)).toEqual(a);
    for (const p of a) {
      const [x, y] = [await readFile(path.join(outA, p)), await readFile(path.join(outB, p))];
      expect(Buffer.compare(new Uint8Array(x), new Uint8Array(y)), p).toBe(0);
    }
  });

  it('Parquet: datasets recovers Image / ClassLabel / every feature and every value; the source row is rebuilt', async () => {
    const got = await runPython<{
      features: unknown;
      names: string[];
      outcomes: string[];
      imgType: string;
      size: number[];
      rows: Record<string, Record<string, unknown>[]>;
      meta: unknown;
    }>(
      `
import json, sys, glob
from datasets import load_dataset, Image
${PY_ROWS}
root = sys.argv[1]
files = {s: sorted(glob.glob(f"{root}/data/{s}-*.parquet")) for s in ("train", "test")}
dd = load_dataset("parquet", data_files=files, cache_dir=sys.argv[2])
f = dd["train"].features
img = dd["train"][0]["image"]
rows = {s: [plain(r) for r in dd[s].cast_column("image", Image(decode=False))] for s in dd}
import pyarrow.parquet as pq
meta = json.loads(pq.read_schema(files["train"][0]).metadata[b"huggingface"])
# started_at (a timestamp) as the epoch milliseconds the steps row holds.
print(json.dumps({"features": f.to_dict(), "names": f["action"]["type"].names, "outcomes": f["outcome"].names,
  "imgType": type(f["image"]).__name__, "size": list(img.size), "rows": rows, "meta": meta}, default=lambda o: round(o.timestamp() * 1000)))
`,
      { args: [outA, path.join(tmp, 'hf-cache')] },
    );
    expect(got.imgType).toBe('Image');
    expect(got.names).toEqual(labels.actionTypes.list);
    expect(got.names).toContain('pinch');
    expect(got.outcomes).toEqual(labels.outcomes.list);
    expect(got.features).toEqual(featuresToDict(features));
    expect(got.meta).toEqual(JSON.parse(huggingfaceMetadata(features)));
    expect(got.size).toEqual([W, H]);
    for (const split of ['train', 'test']) {
      const want = await expectedRows(split);
      expect(got.rows[split]).toHaveLength(want.length);
      expect(got.rows[split]).toEqual(want);
      // Nothing of the source row is lost: rebuild it from what datasets returned.
      got.rows[split]!.forEach((r, i) => {
        const p = data[split]![i]!;
        const s = p.step;
        const rebuilt = fromStepsRow(r as unknown as StepsRow, labels.toJSON());
        expect(rebuilt).toEqual({
          session_id: s.session_id,
          t_ms: s.t_ms,
          frame: s.frame,
          action: p.action,
          context: { ...s.context, prior_action: p.prior_action },
          ...s.extra,
        });
      });
    }
  }, 180_000);

  it('Parquet: row groups of at most 100 rows, offset index, image PLAIN/uncompressed/no stats, others snappy; pyarrow, polars, duckdb read it', async () => {
    const got = await runPython<{
      rowGroups: number[][];
      image: string[][];
      other: string[];
      offsetIndex: boolean;
      kv: string[];
      polars: number;
      polarsImage: string;
      duckdb: number[];
    }>(
      `
import json, sys, glob
import pyarrow.parquet as pq, polars as pl, duckdb
files = sorted(glob.glob(sys.argv[1] + "/data/*.parquet"))
rg, image, other, offset_index, kv = [], [], set(), False, set()
for f in files:
    pf = pq.ParquetFile(f)
    md = pf.metadata
    kv |= set(k.decode() for k in md.metadata)
    rg.append([md.row_group(i).num_rows for i in range(md.num_row_groups)])
    for i in range(md.num_row_groups):
        g = md.row_group(i)
        for j in range(g.num_columns):
            c = g.column(j)
            if c.path_in_schema.startswith("image."):
                image.append([c.path_in_schema, c.compression, ",".join(sorted(c.encodings)), str(c.is_stats_set)])
                offset_index = offset_index or c.has_offset_index
            else:
                other.add(c.compression)
    pf.read()  # pyarrow reads every column
df = pl.read_parquet(files)
con = duckdb.connect()
d = con.execute("select count(*), count(action.x), count(image.bytes), max(octet_length(image.bytes)) from read_parquet(?)", [files]).fetchone()
print(json.dumps({"rowGroups": rg, "image": image, "other": sorted(other), "offsetIndex": offset_index, "kv": sorted(kv),
  "polars": df.height, "polarsImage": str(df.schema["image"]), "duckdb": [int(x) for x in d]}))
`,
      { args: [outA] },
    );
    // test-00000-of-00001 holds 150 rows: two row groups.
    expect(got.rowGroups).toEqual([[100, 50], [70], [70], [70]]);
    expect(got.offsetIndex).toBe(true);
    for (const [col, codec, enc, stats] of got.image) {
      expect(col).toMatch(/^image\.(bytes|path)$/);
      expect(codec).toBe('UNCOMPRESSED');
      expect(enc).not.toMatch(/DICTIONARY/);
      expect(stats).toBe('False');
    }
    expect(got.other).toEqual(['SNAPPY']);
    expect(got.kv).toEqual(['huggingface']);
    expect(got.polars).toBe(360);
    expect(got.polarsImage).toContain('Binary');
    const clicksWithX = [...data.train!, ...data.test!].filter((p) => typeof p.action.x === 'number').length;
    expect(got.duckdb.slice(0, 3)).toEqual([360, clicksWithX, 360]);
  }, 120_000);

  it('Arrow: load_from_disk and load_dataset("arrow") give the same rows and features as Parquet', async () => {
    const got = await runPython<{
      disk: Record<string, unknown>;
      arrow: Record<string, unknown>;
      parquet: Record<string, unknown>;
      rowsEqual: boolean;
      splits: string[];
      batches: number[];
      magic: string;
      imgType: string;
      nbytes: number;
    }>(
      `
import json, sys, glob
from datasets import load_dataset, load_from_disk, Image
import pyarrow as pa
${PY_ROWS}
root, cache = sys.argv[1], sys.argv[2]
disk = load_from_disk(root + "/arrow")
arrow = load_dataset("arrow", data_files={s: sorted(glob.glob(f"{root}/arrow/{s}/data-*.arrow")) for s in ("train", "test")}, cache_dir=cache)
parq = load_dataset("parquet", data_files={s: sorted(glob.glob(f"{root}/data/{s}-*.parquet")) for s in ("train", "test")}, cache_dir=cache)
def rows(dd):
    return {s: [plain(r) for r in dd[s].cast_column("image", Image(decode=False))] for s in ("train", "test")}
rd, ra, rp = rows(disk), rows(arrow), rows(parq)
with open(root + "/arrow/test/data-00000-of-00001.arrow", "rb") as fh:
    magic = fh.read(4).hex()
    fh.seek(0)
    batches = [b.num_rows for b in pa.ipc.open_stream(fh)]
print(json.dumps({"disk": disk["train"].features.to_dict(), "arrow": arrow["train"].features.to_dict(), "parquet": parq["train"].features.to_dict(),
  "rowsEqual": rd == ra == rp, "splits": sorted(disk.keys()), "batches": batches, "magic": magic, "imgType": type(disk["test"].features["image"]).__name__, "nbytes": disk["test"].data.nbytes}))
`,
      { args: [outA, path.join(tmp, 'hf-cache')] },
    );
    expect(got.disk).toEqual(featuresToDict(features));
    expect(got.arrow).toEqual(got.disk);
    expect(got.parquet).toEqual(got.disk);
    expect(got.rowsEqual).toBe(true);
    expect(got.splits).toEqual(['test', 'train']);
    expect(got.imgType).toBe('Image');
    expect(got.magic).toBe('ffffffff'); // IPC stream, not the ARROW1 file format
    expect(got.batches).toEqual([100, 50]);
    // The card's num_bytes estimate is close to what datasets measures for the same rows.
    let estimate = 0;
    for await (const r of rowsOf(data.test!, labels)) estimate += stepsRowNbytes(r);
    expect(Math.abs(estimate - got.nbytes) / got.nbytes).toBeLessThan(0.1);
  }, 180_000);

  it('Arrow: state.json has all seven keys (sorted), dataset_info.json the features, dataset_dict.json the splits', async () => {
    const state = JSON.parse(await readFile(path.join(outA, 'arrow/train/state.json'), 'utf8'));
    expect(Object.keys(state)).toEqual([
      '_data_files',
      '_fingerprint',
      '_format_columns',
      '_format_kwargs',
      '_format_type',
      '_output_all_columns',
      '_split',
    ]);
    expect(state._data_files).toEqual([0, 1, 2].map((i) => ({ filename: `data-0000${i}-of-00003.arrow` })));
    expect(state._fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(state._split).toBe('train');
    const testState = JSON.parse(await readFile(path.join(outA, 'arrow/test/state.json'), 'utf8'));
    expect(testState._fingerprint).not.toBe(state._fingerprint);
    const info = JSON.parse(await readFile(path.join(outA, 'arrow/train/dataset_info.json'), 'utf8'));
    expect(info.features).toEqual(featuresToDict(features));
    expect(JSON.parse(await readFile(path.join(outA, 'arrow/dataset_dict.json'), 'utf8'))).toEqual({ splits: ['train', 'test'] });
  });

  it('JSONL: one row per line in column order, labels by name, images as frame files beside it', async () => {
    const lines = (await readFile(path.join(outA, 'jsonl/train-00000.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(105);
    const first = JSON.parse(lines[0]!);
    expect(Object.keys(first)).toEqual(Object.keys(features));
    expect(first.action.type).toBe('click');
    expect(first.outcome).toBe('success');
    expect(first.image).toBe('frames/train/ses_train_000_000000000.webp');
    const frame = await readFile(path.join(outA, 'jsonl', first.image));
    expect(new Uint8Array(frame)).toEqual(data.train![0]!.image.bytes);
    expect((await stat(path.join(outA, 'jsonl/frames/test'))).isDirectory()).toBe(true);
  });

  it('rejects a stream that does not match the plan and leaves no file under a final name', async () => {
    const root = path.join(tmp, 'short');
    const sink = new LocalSink(root);
    const steps = data.test!.slice(0, 5);
    await expect(writeParquetSplit(sink, rowsOf(steps, labels), { split: 'test', totalRows: 6, numShards: 1, features })).rejects.toThrow(
      /5 rows arrived, 6 were planned/,
    );
    await expect(listFiles(root)).resolves.toEqual([]);
    expect(() => createParquetSplitWriter<StepsRow>(sink, { split: 'bad-name', totalRows: 1, numShards: 1, features })).toThrow(
      /split name "bad-name"/,
    );
  });
});
