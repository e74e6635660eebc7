/**
 * WebDataset tar shards for one split: `webdataset/{split}-{i:06d}.tar`, one sample per step with the
 * members `{key}.{webp|jpg|png}`, `{key}.json` and optionally `{key}.mp`, adjacent and in the same
 * order in every sample. Shard sizes come from `planShards`; each shard is a Sink file, so it appears
 * under its final name only when complete.
 *
 * Its own shard loop rather than `shardedSplitWriter` (src/write/shards.ts): the plan is a list of
 * per-shard sample counts balanced over ranks × workers, not evenly spaced rows; a split without
 * samples gets no shard at all (the columnar formats write one empty shard); and a sample past the
 * plan is bad input named by its shard file. Its file records are the shared `WrittenFile`.
 */
import type { Packr } from 'msgpackr';
import { InputError, UsageError } from '../errors.ts';
import type { OutputFile, Sink } from '../sink/types.ts';
import { SPLIT_NAME } from '../hf/split-name.ts';
import type { WrittenFile } from './shards.ts';
import { wdsShardPath } from '../formats/webdataset.ts';
import { compareStrings } from '../util/compare.ts';
import { TarWriter, tarNameProblem } from './tar.ts';
import { keyGroup, keyProblem } from './wds-keys.ts';

export type WdsImageExt = 'webp' | 'jpg' | 'png';

export interface WdsSample {
  /** From `sampleKey(session_id, step)`. */
  key: string;
  image: { bytes: Uint8Array; ext: WdsImageExt };
  /** Every other column of the steps row. bigint values are written as JSON numbers. */
  json: Record<string, unknown>;
}

/** A shard's file record (path relative to the sink root, e.g. `webdataset/train-000000.tar`), with its first and last key. */
export interface WdsShardInfo extends WrittenFile {
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
  /** Index of the first shard written (a partition writing shard i alone: `plan` is that shard's). */
  firstShard?: number;
}

const IMAGE_EXTS: ReadonlySet<string> = new Set(['webp', 'jpg', 'png']);

export { wdsShardPath };

// Plain msgpack maps (records are a msgpackr extension Python cannot read). Loaded with the first
// `.mp` sidecar: most converts never write one.
let packr: Packr | undefined;
const encoder = new TextEncoder();

/**
 * Writes a split from an async stream of samples (pull style). Resolves with one record per shard;
 * on any error the shard in progress is dropped (earlier shards stay complete) and the error thrown.
 */
export async function writeWebDataset(samples: AsyncIterable<WdsSample>, opts: WriteWebDatasetOptions): Promise<WdsShardInfo[]> {
  const writer = new WebDatasetWriter(opts);
  try {
    for await (const sample of samples) await writer.add(sample);
    return await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/**
 * The same writer, push style (await each `add`), for feeding several formats from one row stream.
 * A full shard is committed only when the next sample arrives or at `finish()`, so a surplus sample
 * never leaves a last shard that disagrees with the plan.
 */
export class WebDatasetWriter {
  private readonly keys: KeyTracker;
  private readonly shards: WdsShardInfo[] = [];
  private imageExt: string | undefined;
  private seen = 0;
  private failed = false;
  private shard = -1;
  private inShard = 0;
  private out: OutputFile | undefined;
  private tar: TarWriter | undefined;
  private first = '';
  private last = '';

  constructor(private readonly opts: WriteWebDatasetOptions) {
    const { split, plan, totalSamples } = opts;
    if (!SPLIT_NAME.test(split)) throw new UsageError(`split name ${JSON.stringify(split)} must match ${SPLIT_NAME.source}`);
    if (plan.some((n) => !Number.isSafeInteger(n) || n < 1))
      throw new UsageError(`split ${split}: every planned shard needs at least one sample, got [${plan.join(', ')}]`);
    const planned = plan.reduce((a, b) => a + b, 0);
    if (planned !== totalSamples)
      throw new UsageError(`split ${split}: shard plan holds ${planned} samples but totalSamples is ${totalSamples}`);
    if (!Number.isSafeInteger(opts.mtime) || opts.mtime < 0)
      throw new UsageError(`tar mtime must be a non-negative integer (seconds), got ${opts.mtime}`);
    this.keys = new KeyTracker(split);
  }

  async add(sample: WdsSample): Promise<void> {
    if (this.failed) throw new Error(`split ${this.opts.split}: the WebDataset writer failed earlier; abort() it`);
    try {
      await this.addUnchecked(sample);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private async addUnchecked(sample: WdsSample): Promise<void> {
    const { sink, split, plan, totalSamples } = this.opts;
    if (!this.tar || this.inShard === plan[this.shard]) {
      if (this.shard + 1 >= plan.length) {
        const where = this.out ? { file: sink.describe(this.out.path) } : {};
        throw new InputError(`split ${split}: the input has more than the ${totalSamples} samples planned`, where);
      }
      await this.commitShard();
      this.shard++;
      this.inShard = 0;
      this.out = await sink.create(wdsShardPath(split, this.shard + (this.opts.firstShard ?? 0)));
      this.tar = new TarWriter(this.out, this.opts.mtime);
    }
    const where = { file: sink.describe(this.out!.path), member: `${sample.key}.json` };
    // Checked before any member is written, so a failure never leaves half a sample in the tar.
    const problem = keyProblem(sample.key) ?? tarNameProblem(`${sample.key}.json`);
    if (problem) throw new InputError(`sample key ${JSON.stringify(sample.key)}: ${problem}`, where);
    this.keys.add(sample.key, where);
    if (!IMAGE_EXTS.has(sample.image.ext)) throw new InputError(`image extension ${sample.image.ext} is not webp, jpg or png`, where);
    this.imageExt ??= sample.image.ext;
    if (sample.image.ext !== this.imageExt) {
      // Readers expect one extension set per sample (datasets infers columns from the first ones).
      throw new InputError(
        `frame is .${sample.image.ext} but earlier frames of split ${split} are .${this.imageExt}; re-encode so all match`,
        where,
      );
    }
    await writeSample(this.tar!, sample, this.opts.sidecarMp ?? false, where);
    if (this.inShard === 0) this.first = sample.key;
    this.last = sample.key;
    this.inShard++;
    this.seen++;
  }

  /** Commits the last shard; throws if fewer samples came than planned. */
  async finish(): Promise<WdsShardInfo[]> {
    const { sink, split, totalSamples } = this.opts;
    if (this.failed) throw new Error(`split ${split}: the WebDataset writer failed earlier; abort() it`);
    if (this.seen !== totalSamples) {
      const where = this.out ? { file: sink.describe(this.out.path) } : {};
      throw new InputError(`split ${split}: expected ${totalSamples} samples, the input ended after ${this.seen}`, where);
    }
    await this.commitShard();
    return this.shards;
  }

  /** Drops the shard in progress; committed shards stay. Safe to call after any failure. */
  async abort(): Promise<void> {
    const out = this.out;
    this.out = undefined;
    this.tar = undefined;
    if (out) await out.abort();
  }

  private async commitShard(): Promise<void> {
    if (!this.out || !this.tar) return;
    await this.tar.finish();
    const { bytes, sha256 } = await this.out.commit();
    const path = this.out.path;
    this.out = undefined;
    this.tar = undefined;
    this.shards.push({
      path,
      format: 'webdataset',
      split: this.opts.split,
      rows: this.inShard,
      bytes,
      sha256,
      first_key: this.first,
      last_key: this.last,
    });
  }
}

let utf8Buffer = new Uint8Array(64 << 10);

/** UTF-8 of `s` in a reused buffer: valid until the next call (the sink copies what it writes). */
function utf8(s: string): Uint8Array {
  if (s.length * 3 > utf8Buffer.length) utf8Buffer = new Uint8Array(s.length * 3);
  return utf8Buffer.subarray(0, encoder.encodeInto(s, utf8Buffer).written);
}

/** Members in a fixed order: sorted by extension, as webdataset's own TarWriter does. */
async function writeSample(tar: TarWriter, sample: WdsSample, sidecarMp: boolean, where: { file: string; member: string }): Promise<void> {
  const members: [string, Uint8Array][] = [
    [sample.image.ext, sample.image.bytes],
    ['json', utf8(JSON.stringify(isFlatJson(sample.json) ? sample.json : jsonSafe(sample.json, '', where)))],
  ];
  if (sidecarMp) {
    packr ??= new (await import('msgpackr')).Packr({ useRecords: false });
    // A view of msgpackr's reusable buffer: valid until the next pack, and the sink copies it.
    const packed = packr.pack(msgpackSafe(sample.json));
    members.push(['mp', new Uint8Array(packed.buffer, packed.byteOffset, packed.byteLength)]);
  }
  members.sort((a, b) => compareStrings(a[0], b[0]));
  for (const [ext, bytes] of members) await tar.add(`${sample.key}.${ext}`, bytes);
}

/** A plain object of strings, finite numbers, booleans and nulls (a steps sample): JSON as it is, no copy needed. */
function isFlatJson(o: Record<string, unknown>): boolean {
  if (Object.getPrototypeOf(o) !== Object.prototype) return false;
  for (const k of Object.keys(o)) {
    const x = o[k];
    const t = typeof x;
    if (t === 'string' || t === 'boolean' || x === null || (t === 'number' && Number.isFinite(x as number))) continue;
    return false;
  }
  return true;
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
        throw new InputError(
          `key ${key}: session ${group} appeared earlier in split ${this.split} and then stopped; a session's samples must be consecutive`,
          where,
        );
      }
      if (this.current) this.finished.add(this.current);
      this.current = group;
      this.currentKeys = new Set();
    }
    if (this.currentKeys.has(key)) throw new InputError(`duplicate sample key ${key} in split ${this.split}`, where);
    this.currentKeys.add(key);
  }
}
