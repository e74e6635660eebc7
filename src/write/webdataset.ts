/**
 * WebDataset tar shards for one split: `webdataset/{split}-{i:06d}.tar`, one sample per step with the
 * members `{key}.{webp|jpg|png}`, `{key}.json` and optionally `{key}.mp`, adjacent and in the same
 * order in every sample. Shard sizes come from `planShards`; each shard is a Sink file, so it appears
 * under its final name only when complete.
 */
import { Packr } from 'msgpackr';
import { InputError, UsageError } from '../errors.ts';
import type { OutputFile, Sink } from '../sink/types.ts';
import { TarNameError, TarWriter } from './tar.ts';
import { keyGroup, keyProblem } from './wds-keys.ts';

export type WdsImageExt = 'webp' | 'jpg' | 'png';

export interface WdsSample {
  /** From `sampleKey(session_id, step)`. */
  key: string;
  image: { bytes: Uint8Array; ext: WdsImageExt };
  /** Every other column of the steps row. bigint values are written as JSON numbers. */
  json: Record<string, unknown>;
}

export interface WdsShardInfo {
  /** Relative to the sink root, e.g. `webdataset/train-000000.tar`. */
  path: string;
  split: string;
  rows: number;
  bytes: number;
  sha256: string;
  first_key: string;
  last_key: string;
}

export interface WriteWebDatasetOptions {
  sink: Sink;
  split: string;
  /** Samples the iterable yields; must equal the sum of `plan`. */
  totalSamples: number;
  /** Samples per shard, from `planShards`. */
  plan: number[];
  /** Member mtime in integer seconds (the export's created_at), for byte-identical output. */
  mtime: number;
  /** Also write `{key}.mp` (msgpack of the same record; 64-bit integers as int64). */
  sidecarMp?: boolean;
}

const SPLIT_NAME = /^\w+(\.\w+)*$/;
const IMAGE_EXTS: ReadonlySet<string> = new Set(['webp', 'jpg', 'png']);

/** `webdataset/{split}-{i:06d}.tar` */
export function wdsShardPath(split: string, index: number): string {
  return `webdataset/${split}-${String(index).padStart(6, '0')}.tar`;
}

// Plain msgpack maps (records are a msgpackr extension Python cannot read).
const packr = new Packr({ useRecords: false });
const encoder = new TextEncoder();

export async function writeWebDataset(samples: AsyncIterable<WdsSample>, opts: WriteWebDatasetOptions): Promise<WdsShardInfo[]> {
  const { sink, split, plan, totalSamples } = opts;
  if (!SPLIT_NAME.test(split)) throw new UsageError(`split name ${JSON.stringify(split)} must match ${SPLIT_NAME.source}`);
  if (plan.some((n) => !Number.isSafeInteger(n) || n < 1)) throw new UsageError(`split ${split}: every planned shard needs at least one sample, got [${plan.join(', ')}]`);
  const planned = plan.reduce((a, b) => a + b, 0);
  if (planned !== totalSamples) throw new UsageError(`split ${split}: shard plan holds ${planned} samples but totalSamples is ${totalSamples}`);

  const it = samples[Symbol.asyncIterator]();
  const keys = new KeyTracker(split);
  let imageExt: string | undefined;
  let seen = 0;
  const shards: WdsShardInfo[] = [];
  let out: OutputFile | undefined;
  try {
    for (let s = 0; s < plan.length; s++) {
      const path = wdsShardPath(split, s);
      out = await sink.create(path);
      const tar = new TarWriter(out, opts.mtime);
      let first = '';
      let last = '';
      for (let r = 0; r < plan[s]!; r++) {
        const next = await it.next();
        if (next.done) {
          throw new InputError(`split ${split}: expected ${totalSamples} samples, the input ended after ${seen}`, { file: sink.describe(path) });
        }
        const sample = next.value;
        const where = { file: sink.describe(path), member: `${sample.key}.json` };
        const problem = keyProblem(sample.key);
        if (problem) throw new InputError(`sample key ${JSON.stringify(sample.key)}: ${problem}`, where);
        keys.add(sample.key, where);
        if (!IMAGE_EXTS.has(sample.image.ext)) throw new InputError(`image extension ${sample.image.ext} is not webp, jpg or png`, where);
        imageExt ??= sample.image.ext;
        if (sample.image.ext !== imageExt) {
          // Readers expect one extension set per sample (datasets infers columns from the first ones).
          throw new InputError(`frame is .${sample.image.ext} but earlier frames of split ${split} are .${imageExt}; re-encode so all match`, where);
        }
        await writeSample(tar, sample, opts.sidecarMp ?? false, where);
        if (r === 0) first = sample.key;
        last = sample.key;
        seen++;
      }
      await tar.finish();
      if (s === plan.length - 1) {
        // Check for surplus input before the last shard becomes visible.
        const extra = await it.next();
        if (!extra.done) throw new InputError(`split ${split}: the input has more than the ${totalSamples} samples planned`, { file: sink.describe(path) });
      }
      const { bytes, sha256 } = await out.commit();
      out = undefined;
      shards.push({ path, split, rows: plan[s]!, bytes, sha256, first_key: first, last_key: last });
    }
    if (plan.length === 0) {
      const extra = await it.next();
      if (!extra.done) throw new InputError(`split ${split}: the input has samples but the shard plan is empty`);
    }
    return shards;
  } catch (err) {
    if (out) await out.abort();
    await it.return?.();
    if (err instanceof TarNameError) throw new InputError(err.message, { file: out ? sink.describe(out.path) : split });
    throw err;
  }
}

/** Members in a fixed order: sorted by extension, as webdataset's own TarWriter does. */
async function writeSample(tar: TarWriter, sample: WdsSample, sidecarMp: boolean, where: { file: string; member: string }): Promise<void> {
  const members: [string, Uint8Array][] = [
    [sample.image.ext, sample.image.bytes],
    ['json', encoder.encode(JSON.stringify(jsonSafe(sample.json, '', where)))],
  ];
  if (sidecarMp) {
    // A copy: msgpackr returns a view of its own reusable buffer.
    const packed = packr.pack(msgpackSafe(sample.json));
    members.push(['mp', new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength).slice()]);
  }
  members.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  for (const [ext, bytes] of members) await tar.add(`${sample.key}.${ext}`, bytes);
}

/**
 * A copy that JSON.stringify writes faithfully: bigint → number (only when exact), and an error for
 * values JSON would silently turn into null or {} (NaN, Infinity, bytes, other class instances).
 */
export function jsonSafe(v: unknown, path: string, where: { file?: string; member?: string } = {}): unknown {
  switch (typeof v) {
    case 'bigint':
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new InputError(`field ${path || '(root)'} = ${v} does not fit a JSON number exactly`, where);
      }
      return Number(v);
    case 'number':
      if (!Number.isFinite(v)) throw new InputError(`field ${path || '(root)'} is ${v}, which JSON cannot hold`, where);
      return v;
    case 'string':
    case 'boolean':
    case 'undefined':
      return v;
    case 'object': {
      if (v === null) return null;
      if (Array.isArray(v)) return v.map((x, i) => jsonSafe(x, `${path}[${i}]`, where) ?? null);
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new InputError(`field ${path || '(root)'} is a ${proto?.constructor?.name ?? 'non-plain object'}, not a JSON value`, where);
      }
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = jsonSafe(x, path ? `${path}.${k}` : k, where);
      return o;
    }
    default:
      throw new InputError(`field ${path || '(root)'} is a ${typeof v}, not a JSON value`, where);
  }
}

/** msgpackr writes integers beyond 32 bits from JS numbers as float64; make them int64 (BigInt). */
function msgpackSafe(v: unknown): unknown {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && (v > 0xffffffff || v < -0x80000000) ? BigInt(v) : v;
  }
  if (Array.isArray(v)) return v.map(msgpackSafe);
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = msgpackSafe(x);
    return o;
  }
  return v;
}

/**
 * Duplicate keys in a split, with memory bounded by the number of sessions: samples arrive grouped by
 * session (the key part before `__`), so we keep the keys of the current group and the names of the
 * finished groups. A group that comes back after another one is reported (its keys could repeat).
 */
class KeyTracker {
  private current = '';
  private currentKeys = new Set<string>();
  private finished = new Set<string>();
  constructor(private readonly split: string) {}

  add(key: string, where: { file: string; member: string }): void {
    const group = keyGroup(key);
    if (group !== this.current) {
      if (this.finished.has(group)) {
        throw new InputError(`key ${key}: session ${group} appeared earlier in split ${this.split} and then stopped; a session's samples must be consecutive`, where);
      }
      if (this.current) this.finished.add(this.current);
      this.current = group;
      this.currentKeys = new Set();
    }
    if (this.currentKeys.has(key)) throw new InputError(`duplicate sample key ${key} in split ${this.split}`, where);
    this.currentKeys.add(key);
  }
}
