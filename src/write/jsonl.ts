/**
 * JSONL for inspection: `jsonl/{split}-{i:05d}.jsonl`, one row per line, keys in column order.
 * The image cell becomes the path of a frame file written beside it (`frames/{split}/{image.path}`,
 * relative to the jsonl folder); ClassLabel cells hold the label name (readable, and what
 * `datasets` ClassLabel accepts when loading with `features=`). Int64 values are plain JSON numbers,
 * timestamps ISO 8601 text.
 */
import { TIMESTAMP_MS_UTC } from '../hf/features.ts';
import type { Feature, Features } from '../hf/features.ts';
import { isoOfMs } from '../hf/timestamps.ts';
import type { OutputFile, Sink } from '../sink/types.ts';
import { drain, shardedSplitWriter } from './shards.ts';
import { jsonlShardPath } from '../formats/jsonl.ts';
import type { SplitPlan, SplitWriter, WrittenFile } from './shards.ts';

export interface JsonlSplitOptions extends SplitPlan {
  features: Features;
  /** Folder under the sink root (default `jsonl`). */
  dir?: string;
}

const encoder = new TextEncoder();
const CHUNK = 1 << 20;

export { jsonlShardPath };

/** The frame file's path relative to the jsonl folder. Image paths must be unique within a split. */
export function jsonlFramePath(split: string, imagePath: string): string {
  if (imagePath.startsWith('/') || imagePath.split('/').includes('..') || imagePath === '') {
    throw new Error(`jsonl: image path "${imagePath}" must be a relative file name`);
  }
  return `frames/${split}/${imagePath}`;
}

function jsonValue(f: Feature, v: unknown, frameRef: (img: { bytes: Uint8Array; path: string }) => string): unknown {
  if (v === null || v === undefined) return null;
  switch (f.kind) {
    case 'value':
      if (f.dtype === 'binary') throw new Error('jsonl: binary columns other than images are not supported');
      // ISO 8601 text, which a reader can take as it is and pyarrow casts to the timestamp type.
      if (f.dtype === TIMESTAMP_MS_UTC) return isoOfMs(v as number);
      return v;
    case 'class_label':
      return f.names[v as number] ?? null;
    case 'image':
      return frameRef(v as { bytes: Uint8Array; path: string });
    case 'list':
      return (v as unknown[]).map((x) => jsonValue(f.feature, x, frameRef));
    case 'struct': {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [n, c] of Object.entries(f.fields)) out[n] = jsonValue(c, o[n], frameRef);
      return out;
    }
  }
}

interface OpenShard {
  out: OutputFile;
  rows: number;
  pending: string[];
  pendingLen: number;
}

export function createJsonlSplitWriter<R extends object>(sink: Sink, opts: JsonlSplitOptions): SplitWriter<R> {
  const dir = opts.dir ?? 'jsonl';
  const entries = Object.entries(opts.features);
  const files: WrittenFile[] = [];
  let shard: OpenShard | undefined;

  async function flushLines(s: OpenShard): Promise<void> {
    if (!s.pending.length) return;
    const chunk = encoder.encode(s.pending.join(''));
    s.pending = [];
    s.pendingLen = 0;
    await s.out.write(chunk);
  }

  async function close(): Promise<void> {
    if (!shard) return;
    const s = shard;
    await flushLines(s);
    const { bytes, sha256 } = await s.out.commit();
    files.push({ path: s.out.path, format: 'jsonl', split: opts.split, rows: s.rows, bytes, sha256 });
    shard = undefined;
  }

  async function open(index: number): Promise<void> {
    shard = { out: await sink.create(jsonlShardPath(dir, opts.split, index)), rows: 0, pending: [], pendingLen: 0 };
  }

  return shardedSplitWriter<R>(opts, files, {
    open,
    close,
    async add(row: R): Promise<void> {
      const s = shard!;
      const r = row as Record<string, unknown>;
      const frames: { path: string; bytes: Uint8Array }[] = [];
      const out: Record<string, unknown> = {};
      for (const [name, f] of entries) {
        out[name] = jsonValue(f, r[name], (img) => {
          const rel = jsonlFramePath(opts.split, img.path);
          frames.push({ path: `${dir}/${rel}`, bytes: img.bytes });
          return rel;
        });
      }
      for (const fr of frames) {
        const { bytes, sha256 } = await sink.writeFile(fr.path, fr.bytes);
        files.push({ path: fr.path, format: 'jsonl-frame', split: opts.split, rows: 1, bytes, sha256 });
      }
      const line = JSON.stringify(out) + '\n';
      s.pending.push(line);
      s.pendingLen += line.length;
      s.rows++;
      if (s.pendingLen >= CHUNK) await flushLines(s);
    },
    async abort(): Promise<void> {
      const s = shard;
      shard = undefined;
      if (s) await s.out.abort();
    },
  });
}

/** Write one split's rows as JSONL shards, frames as files beside them. */
export function writeJsonlSplit<R extends object>(sink: Sink, rows: AsyncIterable<R>, opts: JsonlSplitOptions): Promise<WrittenFile[]> {
  return drain(rows, createJsonlSplitWriter<R>(sink, opts));
}
