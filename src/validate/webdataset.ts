/**
 * WebDataset shards of one split, streamed through the raw tar scanner: member names and keys,
 * adjacency, duplicates (in a shard and across the split's shards), member sets, empty members,
 * compressed members that inflate too far, the `.json` sidecar against the steps layout
 * (src/write/wds-rows.ts), frames, the wids index and the shard balance over ranks × workers.
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { FileToCheck, ValidateContext } from './context.ts';
import { RowWindow, toNum } from './context.ts';
import type { FrameLocation } from './frame-dedupe.ts';
import type { FrameInfo } from './frame-pool.ts';
import { failureReason, jsonSyntaxReason } from '../limits.ts';
import { jsonDepthExceeds } from './json-depth.ts';
import type { VRow } from './rows.ts';
import { scanTar } from './tar-scan.ts';
import { shardBalance, unevenSplitMessage } from '../write/shard-plan.ts';

const IMAGE_EXTS = new Set(['webp', 'png', 'jpg', 'jpeg']);
const MAX_MEMBER = 256 << 20;
const MAX_INFLATED = 64 << 20;
const MAX_JSON_DEPTH = 64;

/**
 * The `.json` layout src/write/wds-rows.ts writes: typed never-null fields, and JSON text for
 * everything nullable (viewport, action, prior_action, context, dom, accessibility_tree, extra).
 */
const isStr = (v: unknown) => typeof v === 'string';
const JSON_FIELDS: Record<string, (v: unknown) => boolean> = {
  session_id: isStr,
  step: Number.isInteger,
  t_ms: Number.isInteger,
  image_path: isStr,
  action_type: isStr,
  action_type_id: Number.isInteger,
  viewport: isStr,
  action: isStr,
  prior_action: isStr,
  context: isStr,
  dom: isStr,
  accessibility_tree: isStr,
  extra: (v) => v === null || isStr(v),
};
/** Fields holding JSON text that must parse. */
const JSON_TEXT = ['viewport', 'action', 'prior_action', 'context', 'accessibility_tree'] as const;

interface Member {
  name: string;
  ext: string;
  /** A `.json` member's text (non-empty). */
  text?: string;
  /** The first image member's frame check (non-empty data). */
  frame?: Promise<FrameInfo>;
}

interface Sample {
  key: string;
  members: Member[];
}

/** Split state kept across the shards of one split. */
export class WdsSplitState {
  readonly keys = new Map<string, string>();
  expected: string[] | null = null;
  /** Per shard: distinct keys (what wids counts) and whether the shard broke part-way. */
  readonly shardSamples: Array<{ path: string; samples: number; size: number; broken: boolean }> = [];
  constructor(readonly split: string) {}
}

function splitName(name: string): { key: string; ext: string; dotted: boolean } {
  const slash = name.lastIndexOf('/');
  const base = name.slice(slash + 1);
  const dot = base.indexOf('.');
  if (dot < 0) return { key: name, ext: '', dotted: false };
  const ext = base.slice(dot + 1);
  return { key: name.slice(0, slash + 1 + dot), ext, dotted: ext.includes('.') };
}

/** Checks one shard; returns its samples (distinct keys), or null when it breaks part-way. */
export async function checkWdsShard(ctx: ValidateContext, file: FileToCheck, state: WdsSplitState): Promise<number | null> {
  const f = ctx.findings;
  const at = { file: file.path };
  const hash = file.sha256 ? createHash('sha256') : null;
  const inShard = new Set<string>();
  const names = new Set<string>();
  const incomplete = new Map<string, string[]>();
  const nonAdjacent = new Set<string>();
  let cur: Sample | null = null;
  let broken = false;
  const win = new RowWindow(ctx, 'webdataset', file.split);

  const finish = async (s: Sample): Promise<void> => {
    const exts = s.members.map((m) => m.ext).sort();
    if (!state.expected) state.expected = exts;
    if (exts.join(',') !== state.expected.join(',')) incomplete.set(s.key, exts);
    await sampleRow(ctx, file, state.split, s, win);
  };

  // Header mode reads into reused buffers where the source can: member data is used while its
  // event is handled (JSON decoded to text, the frame identified), never kept. Full mode copies
  // frames to the workers.
  const share = ctx.pool.inline;
  const chunks = share && ctx.source.streamReusing ? ctx.source.streamReusing(file.path) : ctx.source.stream(file.path);
  for await (const ev of scanTar(chunks, {
    totalSize: file.size,
    maxData: MAX_MEMBER,
    want: () => true,
    shareData: share,
    ...(hash ? { onChunk: (c: Uint8Array) => hash.update(c) } : {}),
  })) {
    if (ev.kind === 'problem') {
      if (ev.id === 'wds.truncated' || ev.id === 'wds.bad_checksum') broken = true;
      f.add(ev.id, { ...at, ...(ev.member !== undefined ? { member: ev.member } : {}), message: ev.message });
      continue;
    }
    if (ev.unsafe) continue;
    const m = { ...at, member: ev.name };
    let { key, ext, dotted } = splitName(ev.name);
    if (dotted) {
      const last = ext.slice(ext.lastIndexOf('.') + 1);
      const known = state.expected ? state.expected.includes(last) : IMAGE_EXTS.has(last) || last === 'json';
      if (known && !/\.gz$/.test(ev.name)) {
        f.add('wds.key_has_dot', { ...m, message: `readers take key "${key}" and extension "${ext}"; the key holds a dot` });
        key = ev.name.slice(0, ev.name.length - last.length - 1);
        ext = last;
      }
    }
    if (names.has(ev.name)) {
      f.add('wds.duplicate_member', { ...m, message: `member ${ev.name} appears twice in this shard` });
      continue;
    }
    names.add(ev.name);
    if (ev.size === 0) {
      f.add('wds.empty_member', { ...m, message: 'a zero-length member' });
    }
    let data = ev.data;
    let dataAt: number | undefined = ev.offset + 512;
    if (ev.tooLarge) f.add('wds.member_too_large', { ...m, message: `${ev.size} bytes` });
    if (data && ext.endsWith('.gz')) {
      try {
        data = new Uint8Array(gunzipSync(data, { maxOutputLength: MAX_INFLATED }));
        dataAt = undefined;
        ext = ext.slice(0, -3);
      } catch (err) {
        const bomb = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || /larger than|maxOutputLength/i.test(String(err));
        f.add(bomb ? 'wds.decompression_bomb' : 'wds.json_invalid', {
          ...m,
          message: bomb ? `inflates beyond ${MAX_INFLATED} bytes from ${ev.size}` : `does not gunzip (${(err as Error).message})`,
        });
        data = undefined;
      }
    }
    if (!cur || cur.key !== key) {
      if (cur) await finish(cur);
      if (inShard.has(key)) {
        nonAdjacent.add(key);
        f.add('wds.non_adjacent_members', { ...m, message: `key ${key} appeared earlier in the shard; its members are not adjacent` });
      } else {
        inShard.add(key);
        const other = state.keys.get(key);
        if (other !== undefined && other !== file.path)
          f.add('wds.duplicate_member', { ...m, message: `key ${key} is also in ${other} (same split)` });
        else state.keys.set(key, file.path);
      }
      cur = { key, members: [] };
    }
    const member: Member = { name: ev.name, ext };
    if (data?.length) {
      if (ext === 'json') member.text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
      else if (IMAGE_EXTS.has(ext) && !cur.members.some((x) => IMAGE_EXTS.has(x.ext))) {
        const at = dataAt !== undefined ? { file: file.path, start: dataAt, end: dataAt + data.length } : null;
        member.frame = checkFrame(ctx, data, at);
        if (share) await member.frame; // identified before the buffer moves on
      }
    }
    cur.members.push(member);
  }
  if (cur) await finish(cur);
  await win.drain();
  // The sample cut off by a broken end is part of that finding, not a member-set problem.
  if (broken && cur) incomplete.delete(cur.key);
  for (const [key, exts] of incomplete) {
    if (nonAdjacent.has(key)) continue;
    f.add('wds.member_set_differs', {
      ...at,
      member: key,
      message: `sample ${key} has {${exts.join(', ')}}, the split's samples have {${(state.expected ?? []).join(', ')}}`,
    });
  }
  if (hash && file.sha256 && hash.digest('hex') !== file.sha256 && !file.sizeMismatch) {
    f.add('dataset.file_sha256_mismatch', { ...at, message: 'content differs from the sha256 in dataset-manifest.json' });
  }
  state.shardSamples.push({ path: file.path, samples: inShard.size, size: file.size, broken });
  return broken ? null : inShard.size;
}

function isFlatObject(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null) return false;
  }
  return true;
}

/**
 * Size of a frame, and in header mode which content it is (for duplicates across splits), while
 * its bytes are at hand; the bytes are not kept.
 */
async function checkFrame(ctx: ValidateContext, data: Uint8Array, at: FrameLocation | null): Promise<FrameInfo> {
  const info = await ctx.pool.check(data, at);
  if (info.ok && info.ref.bytes) {
    await ctx.dedupe.identify('webdataset', info.ref);
    info.ref.bytes = null;
  }
  return info;
}

async function sampleRow(ctx: ValidateContext, file: FileToCheck, split: string, s: Sample, win: RowWindow): Promise<void> {
  const f = ctx.findings;
  const jsonMember = s.members.find((m) => m.ext === 'json');
  const imageMember = s.members.find((m) => IMAGE_EXTS.has(m.ext));
  const frame: Promise<FrameInfo> | null = imageMember?.frame ?? null;
  if (jsonMember?.text === undefined) {
    await win.push(null, frame);
    return;
  }
  const at = { file: file.path, member: jsonMember.name };
  const text = jsonMember.text;
  // V8's JSON.parse is not recursive, so parse first: a flat object (every sample .json this
  // toolkit writes: nested values travel as JSON text) is one level deep and needs no depth scan.
  let parsed0: unknown;
  let parseError: Error | null = null;
  try {
    parsed0 = JSON.parse(text);
  } catch (err) {
    parseError = err as Error;
  }
  if (!(parseError === null && isFlatObject(parsed0)) && jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    f.add('wds.json_invalid', { ...at, message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` });
    await win.push(null, frame);
    return;
  }
  if (parseError === null && (typeof parsed0 !== 'object' || parsed0 === null || Array.isArray(parsed0))) {
    f.add('wds.json_invalid', { ...at, message: 'not a JSON object' });
    await win.push(null, frame);
    return;
  }
  if (parseError) {
    // The reason and position only: V8's message quotes the text, which may hold anything.
    f.add('wds.json_invalid', { ...at, message: `does not parse (${jsonSyntaxReason(parseError)})` });
    await win.push(null, frame);
    return;
  }
  const j = parsed0 as Record<string, unknown>;
  const bad = Object.entries(JSON_FIELDS)
    .filter(([k, ok]) => !ok(j[k]))
    .map(([k]) => k);
  const parsed: Record<string, unknown> = {};
  if (!bad.length) {
    for (const k of JSON_TEXT) {
      try {
        parsed[k] = JSON.parse(j[k] as string);
      } catch {
        bad.push(`${k} (not JSON text)`);
      }
    }
  }
  const vpRaw = parsed.viewport as { w?: unknown; h?: unknown } | null | undefined;
  if (!bad.length && vpRaw !== null && !(Number.isInteger(vpRaw?.w) && Number.isInteger(vpRaw?.h))) bad.push('viewport ({w, h} integers)');
  if (!bad.length && (typeof parsed.context !== 'object' || parsed.context === null)) bad.push('context (an object)');
  if (bad.length) {
    f.add('wds.json_schema_mismatch', { ...at, message: `field(s) missing or of the wrong type: ${bad.join(', ')}` });
    await win.push(null, frame);
    return;
  }
  const action = parsed.action as Record<string, unknown> | null;
  const prior = parsed.prior_action as Record<string, unknown> | null;
  const context = parsed.context as Record<string, unknown>;
  const vp = vpRaw ? { w: vpRaw.w as number, h: vpRaw.h as number } : null;
  const target = (action?.target ?? null) as Record<string, unknown> | null;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const row: VRow = {
    format: 'webdataset',
    split,
    loc: at,
    session_id: j.session_id as string,
    step: j.step as number,
    t_ms: j.t_ms as number,
    viewport: vp,
    action: action
      ? {
          x: toNum(action.x),
          y: toNum(action.y),
          x_norm: toNum(action.x_norm),
          y_norm: toNum(action.y_norm),
          to_x: toNum(action.to_x),
          to_y: toNum(action.to_y),
        }
      : null,
    labels: { 'action.type': toNum(j.action_type_id), 'prior_action.type': toNum(prior?.type_id), outcome: toNum(context.outcome_id) },
    texts: {
      'action.text': str(action?.text),
      'action.target.name': str(target?.name),
      'action.url': str(action?.url),
      'action.args': str(action?.args),
      dom: str(j.dom),
      accessibility_tree: str(parsed.accessibility_tree),
      extra: str(j.extra),
    },
    frame: null,
  };
  await win.push(row, frame);
}

/** The wids index against the shards, and the shard balance over world size × workers. */
export async function checkWdsSplit(ctx: ValidateContext, state: WdsSplitState, indexPath: string | null): Promise<void> {
  const f = ctx.findings;
  if (indexPath) {
    try {
      const idx = JSON.parse(Buffer.from(await ctx.source.read(indexPath)).toString('utf8')) as {
        shardlist?: Array<{ url?: string; nsamples?: number; filesize?: number }>;
      };
      const dir = indexPath.slice(0, indexPath.lastIndexOf('/') + 1);
      const listed = new Set<string>();
      for (const e of idx.shardlist ?? []) {
        const p = dir + (e.url ?? '');
        listed.add(p);
        const s = state.shardSamples.find((x) => x.path === p);
        if (!s) {
          f.add('wds.index_mismatch', { file: indexPath, message: `lists ${e.url}, which was not found` });
          continue;
        }
        if (s.broken) continue; // counts of a broken shard say nothing more
        if (e.nsamples !== s.samples)
          f.add('wds.index_mismatch', { file: indexPath, message: `${e.url}: nsamples ${e.nsamples}, the shard has ${s.samples} samples` });
        if (e.filesize !== undefined && e.filesize !== s.size)
          f.add('wds.index_mismatch', { file: indexPath, message: `${e.url}: filesize ${e.filesize}, the shard has ${s.size} bytes` });
      }
      for (const s of state.shardSamples)
        if (!listed.has(s.path)) f.add('wds.index_mismatch', { file: indexPath, message: `${s.path} is not in the index` });
    } catch (err) {
      f.add('wds.index_mismatch', { file: indexPath, message: `cannot be read as JSON (${failureReason(err)})` });
    }
  }
  const slots = ctx.worldSize * ctx.workers;
  const n = state.shardSamples.length;
  if (n === 0) return;
  const first = state.shardSamples[0]!.path;
  if (n < slots) {
    f.add('wds.too_few_shards', {
      file: first,
      message: `split ${state.split} has ${n} shard(s) for ${ctx.worldSize} rank(s) x ${ctx.workers} worker(s) = ${slots}: some get no data`,
    });
    return;
  }
  if (slots > 1) {
    // The same rule convert plans by (shard-plan.ts): uneven only beyond what the row count forces.
    const b = shardBalance(
      state.shardSamples.map((s) => s.samples),
      ctx.worldSize,
      ctx.workers,
    );
    if (b.avoidable) {
      f.add('wds.uneven_shards', {
        file: first,
        message: `split ${state.split}: ranks read ${b.ranks[0]}..${b.ranks[1]}, rank/worker slots ${b.slots[0]}..${b.slots[1]} samples; the short ones stop early (DDP hangs)`,
      });
    } else if (b.slots[0] < b.slots[1]) {
      f.add('wds.uneven_rows', { file: first, message: unevenSplitMessage(state.split, b, ctx.worldSize, ctx.workers) });
    }
  }
}
