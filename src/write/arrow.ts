/**
 * The `save_to_disk` layout under `arrow/`, so `datasets.load_from_disk(<out>/arrow)` and
 * `load_dataset("arrow", data_files=...)` both work (the files `DatasetDict.save_to_disk` writes):
 *   arrow/{split}/data-{i:05d}-of-{n:05d}.arrow   IPC *stream* files, schema metadata `huggingface`
 *   arrow/{split}/state.json                      all seven keys, sorted, indent 2
 *   arrow/{split}/dataset_info.json               features matching the file types exactly
 *   arrow/dataset_dict.json                       {"splits": [...]}
 *
 * apache-arrow's RecordBatchStreamWriter has no backpressure (it buffers every batch until read), so each batch is
 * serialised on its own with tableToIPC and the stream is stitched together: the schema message
 * once, then every batch's record-batch message, then one end-of-stream marker.
 */
import { createHash } from 'node:crypto';
import { RecordBatch, Struct, Table, makeData, tableToIPC, vectorFromArray } from 'apache-arrow';
import type { Schema } from 'apache-arrow';
import { toArrowSchema, toArrowValue } from '../hf/arrow-schema.ts';
import { featuresToDict } from '../hf/features.ts';
import type { Features } from '../hf/features.ts';
import type { OutputFile, Sink } from '../sink/types.ts';
import { MediaArena } from '../buffers/index.ts';
import { drain, shardedSplitWriter } from './shards.ts';
import { arrowShardName } from '../formats/arrow.ts';
import type { SplitPlan, SplitWriter, WrittenFile } from './shards.ts';

export interface ArrowSplitOptions extends SplitPlan {
  features: Features;
  /** Rows per record batch; `datasets` uses 100 for image datasets. */
  batchRows?: number;
  /** Folder under the sink root (default `arrow`). */
  dir?: string;
}

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
const encoder = new TextEncoder();

export { arrowShardName };

/** One record batch of `rows` (already column-major) under `schema`, with explicit types throughout. */
function buildBatch(schema: Schema, columns: unknown[][], length: number): RecordBatch {
  const children = schema.fields.map((field, j) => {
    const v = vectorFromArray(columns[j]! as never[], field.type);
    if (v.data.length !== 1) throw new Error(`arrow: column ${field.name} built ${v.data.length} chunks, expected 1`);
    return v.data[0]!;
  });
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }));
}

interface OpenShard {
  out: OutputFile;
  index: number;
  rows: number;
}

export function createArrowSplitWriter<R extends object>(sink: Sink, opts: ArrowSplitOptions): SplitWriter<R> {
  const dir = `${opts.dir ?? 'arrow'}/${opts.split}`;
  const batchRows = opts.batchRows ?? 100;
  const schema = toArrowSchema(opts.features);
  const entries = Object.entries(opts.features);
  // Bytes of the schema message as tableToIPC writes it (stream of an empty table minus EOS).
  const schemaPrefix = tableToIPC(new Table(schema), 'stream').subarray(0, -EOS.length);
  const files: WrittenFile[] = [];
  let shard: OpenShard | undefined;
  let cols: unknown[][] = entries.map(() => []);
  let len = 0;
  const arena = new MediaArena();

  async function open(index: number): Promise<void> {
    const out = await sink.create(`${dir}/${arrowShardName(index, opts.numShards)}`);
    await out.write(schemaPrefix);
    shard = { out, index, rows: 0 };
  }

  async function flushBatch(): Promise<void> {
    if (!shard || len === 0) return;
    const ipc = tableToIPC(new Table(schema, buildBatch(schema, cols, len)), 'stream');
    if (!startsWith(ipc, schemaPrefix)) throw new Error('arrow: batch stream does not start with the schema message');
    await shard.out.write(ipc.subarray(schemaPrefix.length, ipc.length - EOS.length));
    shard.rows += len;
    cols = entries.map(() => []);
    len = 0;
    arena.reset(); // tableToIPC copied the batch's bytes
  }

  async function close(): Promise<void> {
    if (!shard) return;
    await flushBatch();
    await shard.out.write(EOS);
    const { bytes, sha256 } = await shard.out.commit();
    files.push({ path: shard.out.path, format: 'arrow', split: opts.split, rows: shard.rows, bytes, sha256 });
    shard = undefined;
  }

  return shardedSplitWriter<R>(opts, files, {
    open,
    close,
    async add(row: R): Promise<void> {
      const r = row as Record<string, unknown>;
      if (len === 0) await arena.begin();
      entries.forEach(([name, f], j) => {
        cols[j]!.push(toArrowValue(f, f.kind === 'image' ? arena.hold(r[name]) : r[name]));
      });
      if (++len >= batchRows) await flushBatch();
    },
    async done(): Promise<void> {
      files.push(...(await writeSplitMetadata(sink, dir, opts.split, opts.features, files)));
    },
    async abort(): Promise<void> {
      arena.reset(); // the unwritten group's frames are free again
      const s = shard;
      shard = undefined;
      if (s) await s.out.abort();
    },
  });
}

function startsWith(a: Uint8Array, prefix: Uint8Array): boolean {
  if (a.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false;
  return true;
}

/** `JSON.stringify` with top-level keys sorted and indent 2, as `datasets` writes these files. */
function sortedJson(o: Record<string, unknown>): Uint8Array {
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) sorted[k] = o[k];
  return encoder.encode(JSON.stringify(sorted, null, 2));
}

/**
 * A deterministic `_fingerprint` (16 hex, like datasets' own): derived from the split name, the
 * features and every shard's content hash, so it changes exactly when the data does.
 */
export function arrowFingerprint(split: string, features: Features, shards: WrittenFile[]): string {
  const h = createHash('sha256').update(`${split}\n${JSON.stringify(featuresToDict(features))}\n`);
  for (const s of shards) h.update(`${s.path} ${s.sha256}\n`);
  return h.digest('hex').slice(0, 16);
}

async function writeSplitMetadata(
  sink: Sink,
  dir: string,
  split: string,
  features: Features,
  shards: WrittenFile[],
): Promise<WrittenFile[]> {
  const state = {
    _data_files: shards.map((s) => ({ filename: s.path.slice(dir.length + 1) })),
    _fingerprint: arrowFingerprint(split, features, shards),
    _format_columns: null,
    _format_kwargs: {},
    _format_type: null,
    _output_all_columns: false,
    _split: split,
  };
  // Only fields `datasets` itself writes for a Dataset made in memory; features in column order.
  const info = { citation: '', description: '', features: featuresToDict(features), homepage: '', license: '' };
  const out: WrittenFile[] = [];
  for (const [name, body] of [
    ['state.json', sortedJson(state)],
    ['dataset_info.json', sortedJson(info)],
  ] as const) {
    const path = `${dir}/${name}`;
    const { bytes, sha256 } = await sink.writeFile(path, body);
    out.push({ path, format: 'arrow-meta', split, rows: 0, bytes, sha256 });
  }
  return out;
}

/** `arrow/dataset_dict.json` naming every split (call once, after all splits are written). */
export async function writeArrowDatasetDict(sink: Sink, splits: readonly string[], dir = 'arrow'): Promise<WrittenFile> {
  const path = `${dir}/dataset_dict.json`;
  const { bytes, sha256 } = await sink.writeFile(path, encoder.encode(JSON.stringify({ splits: [...splits] })));
  return { path, format: 'arrow-meta', split: '', rows: 0, bytes, sha256 };
}

/** Write one split's rows as save_to_disk Arrow shards (plus state.json and dataset_info.json). */
export function writeArrowSplit<R extends object>(sink: Sink, rows: AsyncIterable<R>, opts: ArrowSplitOptions): Promise<WrittenFile[]> {
  return drain(rows, createArrowSplitWriter<R>(sink, opts));
}
