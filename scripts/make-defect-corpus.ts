/**
 * The validate test corpus: copies of a clean converted dataset, each with exactly one planted
 * defect, and the check id + file + row/member that `validate --json` must report for it. After a
 * plant, the support metadata a writer would keep consistent (wids index filesize, manifest
 * bytes/sha256) is refreshed, so the planted defect is the only one — except for plants whose
 * point is that metadata.
 *
 *   tsx scripts/make-defect-corpus.ts <clean dataset dir> <out dir>   (prints the plan as JSON)
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ustarHeader } from '../src/write/tar.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const python = path.join(repoRoot, '.venv', 'bin', 'python');

export interface Planted {
  /** Directory name under the corpus root. */
  name: string;
  dir: string;
  id: string;
  /** The file every example names (a trailing `*` matches a prefix). */
  file: string;
  /** The row every example names; 'any' = some row; 'none' = no row (a finding on a column or row group). */
  row?: number | 'any' | 'none';
  /** The member every example names; 'any' = some member. */
  member?: string | 'any';
  /** Extra CLI flags the case needs (e.g. --world-size). */
  flags?: string[];
}

interface TarMember {
  name: string;
  data: Uint8Array;
  header?: Uint8Array;
}

const BLOCK = 512;
const SHARD = 'webdataset/train-000000.tar';
const TRAIN_PQ = 'data/train-00000-of-00001.parquet';
const TEST_PQ = 'data/test-00000-of-00001.parquet';
const TRAIN_JSONL = 'jsonl/train-00000.jsonl';

function readTar(buf: Uint8Array): TarMember[] {
  const out: TarMember[] = [];
  let off = 0;
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) break;
    const name = Buffer.from(h.subarray(0, 100)).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(Buffer.from(h.subarray(124, 136)).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    out.push({ name, data: buf.slice(off + BLOCK, off + BLOCK + size) });
    off += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return out;
}

function rechecksum(h: Uint8Array): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  const s = sum.toString(8).padStart(6, '0');
  for (let i = 0; i < 6; i++) h[148 + i] = s.charCodeAt(i);
  h[154] = 0;
  h[155] = 0x20;
}

/** A header with any name/type (ustarHeader refuses unsafe ones, which is the point here). */
function rawHeader(name: string, size: number, type = '0'): Uint8Array {
  const h = ustarHeader('placeholder', size, 1_700_000_000);
  h.fill(0, 0, 100);
  Buffer.from(name, 'latin1').copy(Buffer.from(h.buffer, h.byteOffset, 100) as unknown as Uint8Array);
  h[156] = type.charCodeAt(0);
  rechecksum(h);
  return h;
}

function writeTar(members: TarMember[], endBlocks = 2): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    parts.push(m.header ?? ustarHeader(m.name, m.data.length, 1_700_000_000));
    parts.push(m.data);
    parts.push(new Uint8Array((BLOCK - (m.data.length % BLOCK)) % BLOCK));
  }
  parts.push(new Uint8Array(endBlocks * BLOCK));
  return new Uint8Array(Buffer.concat(parts as unknown as Uint8Array[]));
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function refreshManifest(dir: string, changed: string[], opts: { drop?: string[] } = {}): Promise<void> {
  const p = path.join(dir, 'dataset-manifest.json');
  const m = JSON.parse(await readFile(p, 'utf8')) as { files: Array<{ path: string; bytes: number; sha256: string }> };
  m.files = m.files.filter((f) => !opts.drop?.includes(f.path));
  for (const f of m.files) {
    if (!changed.includes(f.path)) continue;
    const b = await readFile(path.join(dir, f.path));
    f.bytes = b.length;
    f.sha256 = sha(new Uint8Array(b));
  }
  await writeFile(p, JSON.stringify(m, null, 2) + '\n');
}

/** Rewrite the train shard; keep its wids index filesize and the manifest in step. */
async function plantTar(
  dir: string,
  edit: (ms: TarMember[]) => Uint8Array | TarMember[],
  opts: { keepIndex?: boolean } = {},
): Promise<void> {
  const file = path.join(dir, SHARD);
  const ms = readTar(new Uint8Array(await readFile(file)));
  const r = edit(ms);
  const bytes = Array.isArray(r) ? writeTar(r) : r;
  await writeFile(file, bytes);
  const idxPath = path.join(dir, 'webdataset/train.index.json');
  if (!opts.keepIndex) {
    const idx = JSON.parse(await readFile(idxPath, 'utf8')) as { shardlist: Array<{ filesize: number }> };
    idx.shardlist[0]!.filesize = bytes.length;
    await writeFile(idxPath, JSON.stringify(idx, null, 2) + '\n');
  }
  await refreshManifest(dir, [SHARD, 'webdataset/train.index.json']);
}

function py(snippet: string, ...args: string[]): void {
  const r = spawnSync(python, ['-c', snippet, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
}

/**
 * Rewrite a Parquet file with pyarrow: `body` edits `t` (a pa.Table; its schema metadata kept).
 * `write` holds the write_table options (row groups of 100 rows with a page index, as our writer).
 */
async function plantParquet(dir: string, file: string, body: string, write = 'write_page_index=True, row_group_size=100'): Promise<void> {
  const p = path.join(dir, file);
  py(
    `
import sys, json, pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc
p = sys.argv[1]
t = pq.read_table(p)
meta = t.schema.metadata
${body}
pq.write_table(t, p + '.tmp', ${write})
import os; os.replace(p + '.tmp', p)
`,
    p,
  );
  await refreshManifest(dir, [file]);
}

/** The fields of a JSONL output row the privacy plants edit. */
interface JsonlRow {
  action: { text?: string };
  dom?: string;
  accessibility_tree?: string;
  extra?: string;
}

/** Replace field `k` of row `i` (0-based line) of a JSONL file. */
async function plantJsonl(dir: string, file: string, i: number, edit: (row: JsonlRow) => void): Promise<void> {
  const p = path.join(dir, file);
  const lines = (await readFile(p, 'utf8')).split('\n');
  const row = JSON.parse(lines[i]!) as JsonlRow;
  edit(row);
  lines[i] = JSON.stringify(row);
  await writeFile(p, lines.join('\n'));
  await refreshManifest(dir, [file]);
}

const jsonOf = (m: TarMember) => JSON.parse(Buffer.from(m.data).toString('utf8')) as Record<string, unknown>;
const bytesOf = (o: unknown) => new Uint8Array(Buffer.from(JSON.stringify(o)));

/**
 * Move the first `n` samples of shard `from` to the end of shard `to` (they must be neighbours, so
 * the split's (session_id, t_ms) order holds); index nsamples/filesize and the manifest follow.
 */
async function moveSamples(dir: string, from: string, to: string, n: number): Promise<void> {
  const keyOf = (name: string) => name.slice(0, name.indexOf('.', name.lastIndexOf('/') + 1));
  const src = readTar(new Uint8Array(await readFile(path.join(dir, from))));
  const dst = readTar(new Uint8Array(await readFile(path.join(dir, to))));
  const moved = [...new Set(src.map((m) => keyOf(m.name)))].slice(0, n);
  const keep = src.filter((m) => !moved.includes(keyOf(m.name)));
  dst.push(...src.filter((m) => moved.includes(keyOf(m.name))));
  const shards = new Map([
    [from, keep],
    [to, dst],
  ]);
  const idxPath = path.join(dir, 'webdataset/train.index.json');
  const idx = JSON.parse(await readFile(idxPath, 'utf8')) as { shardlist: Array<{ url: string; nsamples: number; filesize: number }> };
  const mPath = path.join(dir, 'dataset-manifest.json');
  const manifest = JSON.parse(await readFile(mPath, 'utf8')) as {
    files: Array<{ path: string; rows: number | null; first_key?: string; last_key?: string }>;
  };
  for (const [file, ms] of shards) {
    const bytes = writeTar(ms);
    await writeFile(path.join(dir, file), bytes);
    const keys = [...new Set(ms.map((m) => keyOf(m.name)))];
    const e = idx.shardlist.find((x) => `webdataset/${x.url}` === file)!;
    e.nsamples = keys.length;
    e.filesize = bytes.length;
    const mf = manifest.files.find((f) => f.path === file)!;
    mf.rows = keys.length;
    mf.first_key = keys[0]!;
    mf.last_key = keys[keys.length - 1]!;
  }
  await writeFile(idxPath, JSON.stringify(idx, null, 2) + '\n');
  await writeFile(mPath, JSON.stringify(manifest, null, 2) + '\n');
  await refreshManifest(dir, [from, to, 'webdataset/train.index.json']);
}

/** `base: 'large'` plants go into copies of the larger dataset (makeLargeClean), not the sample. */
type Plant = {
  name: string;
  id: string;
  file: string;
  row?: Planted['row'];
  member?: string | 'any';
  flags?: string[];
  base?: 'large';
  plant(dir: string): Promise<void>;
};

const PLANTS: Plant[] = [
  // --- tar / WebDataset (train shard: members K.json, K.webp per sample; member 2i is sample i's json)
  {
    name: 'wds-truncated',
    id: 'wds.truncated',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        const full = writeTar(ms);
        return full.subarray(0, full.length - 2 * BLOCK - 3000);
      }),
  },
  {
    name: 'wds-bad-checksum',
    id: 'wds.bad_checksum',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        const h = ustarHeader(ms[10]!.name, ms[10]!.data.length, 1_700_000_000);
        h[140]! ^= 1;
        ms[10]!.header = h;
        return ms;
      }),
  },
  {
    name: 'wds-trailing-garbage',
    id: 'wds.trailing_garbage',
    file: SHARD,
    member: 'any',
    plant: (d) => plantTar(d, (ms) => new Uint8Array(Buffer.concat([writeTar(ms), new Uint8Array(700).fill(0xab)]))),
  },
  {
    name: 'wds-non-regular',
    id: 'wds.non_regular_member',
    file: SHARD,
    member: 'shortcut',
    plant: (d) =>
      plantTar(d, (ms) => {
        ms.splice(20, 0, { name: 'shortcut', data: new Uint8Array(0), header: rawHeader('shortcut', 0, '2') });
        return ms;
      }),
  },
  {
    name: 'wds-unsafe-name',
    id: 'wds.unsafe_name',
    file: SHARD,
    member: '../evil.txt',
    plant: (d) =>
      plantTar(d, (ms) => {
        const data = new Uint8Array(Buffer.from('x'));
        ms.splice(20, 0, { name: '../evil.txt', data, header: rawHeader('../evil.txt', 1) });
        return ms;
      }),
  },
  {
    name: 'wds-key-dot',
    id: 'wds.key_has_dot',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        for (const m of ms.slice(10, 12)) m.name = m.name.replace(/\.(json|webp)$/, '.v2.$1');
        return ms;
      }),
  },
  {
    name: 'wds-non-adjacent',
    id: 'wds.non_adjacent_members',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        const [a, b] = [ms[3]!, ms[4]!];
        ms[3] = b;
        ms[4] = a;
        return ms;
      }),
  },
  {
    name: 'wds-duplicate',
    id: 'wds.duplicate_member',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        ms.splice(15, 0, { ...ms[14]! });
        return ms;
      }),
  },
  {
    name: 'wds-member-set',
    id: 'wds.member_set_differs',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        ms.splice(19, 1);
        return ms;
      }),
  },
  {
    name: 'wds-empty-member',
    id: 'wds.empty_member',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        ms[22]!.data = new Uint8Array(0);
        return ms;
      }),
  },
  {
    name: 'wds-json-invalid',
    id: 'wds.json_invalid',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        ms[24]!.data = new Uint8Array(Buffer.from('{"session_id": '));
        return ms;
      }),
  },
  {
    name: 'wds-json-schema',
    id: 'wds.json_schema_mismatch',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        const j = jsonOf(ms[26]!);
        j.step = String(j.step);
        ms[26]!.data = bytesOf(j);
        return ms;
      }),
  },
  {
    name: 'frame-undecodable',
    id: 'frame.undecodable',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        ms[29]!.data.fill(0, 0, 16);
        return ms;
      }),
  },
  {
    name: 'frame-size',
    id: 'frame.size_mismatch',
    file: SHARD,
    member: 'any',
    plant: (d) =>
      plantTar(d, (ms) => {
        const j = jsonOf(ms[30]!);
        j.viewport = JSON.stringify({ w: 800, h: 600 });
        ms[30]!.data = bytesOf(j);
        return ms;
      }),
  },
  {
    name: 'wds-index',
    id: 'wds.index_mismatch',
    file: 'webdataset/train.index.json',
    plant: async (d) => {
      const p = path.join(d, 'webdataset/train.index.json');
      const idx = JSON.parse(await readFile(p, 'utf8')) as { shardlist: Array<{ nsamples: number }> };
      idx.shardlist[0]!.nsamples += 1;
      await writeFile(p, JSON.stringify(idx, null, 2) + '\n');
      await refreshManifest(d, ['webdataset/train.index.json']);
    },
  },
  // --- Parquet
  {
    name: 'pq-bad-magic',
    id: 'parquet.bad_magic',
    file: TRAIN_PQ,
    plant: async (d) => {
      const p = path.join(d, TRAIN_PQ);
      const b = await readFile(p);
      await truncate(p, b.length - 4);
      await refreshManifest(d, [TRAIN_PQ]);
    },
  },
  {
    name: 'pq-hf-missing',
    id: 'parquet.hf_metadata_missing',
    file: TRAIN_PQ,
    plant: (d) => plantParquet(d, TRAIN_PQ, 't = t.replace_schema_metadata(None)'),
  },
  {
    name: 'pq-hf-mismatch',
    id: 'parquet.hf_metadata_mismatch',
    file: TRAIN_PQ,
    plant: (d) =>
      plantParquet(
        d,
        TRAIN_PQ,
        `
hf = json.loads(meta[b'huggingface']); hf['info']['features']['workflow']['dtype'] = 'large_string'
t = t.replace_schema_metadata({b'huggingface': json.dumps(hf)})`,
      ),
  },
  {
    name: 'pq-non-nullable',
    id: 'parquet.non_nullable_field',
    file: TRAIN_PQ,
    plant: (d) =>
      plantParquet(
        d,
        TRAIN_PQ,
        `
i = t.schema.get_field_index('outcome')
t = t.cast(t.schema.set(i, t.schema.field(i).with_nullable(False)))`,
      ),
  },
  {
    name: 'pq-classlabel-int32',
    id: 'parquet.classlabel_not_int64',
    file: TRAIN_PQ,
    plant: (d) =>
      plantParquet(
        d,
        TRAIN_PQ,
        `
i = t.schema.get_field_index('outcome')
t = t.cast(t.schema.set(i, pa.field('outcome', pa.int32())))`,
      ),
  },
  {
    name: 'pq-large-binary',
    id: 'parquet.large_binary',
    file: TRAIN_PQ,
    plant: (d) =>
      plantParquet(
        d,
        TRAIN_PQ,
        `
i = t.schema.get_field_index('image')
t = t.cast(t.schema.set(i, pa.field('image', pa.struct([pa.field('bytes', pa.large_binary()), pa.field('path', pa.string())]))))`,
      ),
  },
  {
    name: 'pq-image-order',
    id: 'parquet.image_struct_layout',
    file: TRAIN_PQ,
    plant: (d) =>
      plantParquet(
        d,
        TRAIN_PQ,
        `
i = t.schema.get_field_index('image')
img = t.column('image').combine_chunks()
t = t.set_column(i, 'image', pa.StructArray.from_arrays([img.field('path'), img.field('bytes')], names=['path', 'bytes']))
t = t.replace_schema_metadata(meta)`,
      ),
  },
  {
    name: 'rows-classlabel-range',
    id: 'rows.classlabel_out_of_range',
    file: TRAIN_PQ,
    row: 3,
    plant: (d) =>
      plantParquet(
        d,
        TRAIN_PQ,
        `
v = t.column('outcome').to_pylist(); v[3] = 7
t = t.set_column(t.schema.get_field_index('outcome'), t.schema.field('outcome'), pa.array(v, pa.int64()))`,
      ),
  },
  {
    name: 'rows-order',
    id: 'rows.order',
    file: TRAIN_PQ,
    row: 'any',
    plant: (d) =>
      plantParquet(
        d,
        TRAIN_PQ,
        `
s = t.column('session_id').to_pylist(); first = [i for i, x in enumerate(s) if x == s[0]]; rest = [i for i in range(len(s)) if s[i] != s[0]]
nxt = [i for i in rest if s[i] == s[rest[0]]]; others = [i for i in rest if s[i] != s[rest[0]]]
t = t.take(pa.array(nxt + first + others))`,
      ),
  },
  {
    name: 'rows-step-gap',
    id: 'rows.step_gap',
    file: TRAIN_PQ,
    row: 4,
    plant: (d) =>
      plantParquet(
        d,
        TRAIN_PQ,
        `
v = t.column('step').to_pylist(); v[4] = 9
t = t.set_column(t.schema.get_field_index('step'), t.schema.field('step'), pa.array(v, pa.int32()))`,
      ),
  },
  ...(['coord', 'norm'] as const).map(
    (kind): Plant => ({
      name: `rows-${kind}`,
      id: kind === 'coord' ? 'rows.coord_outside_image' : 'rows.norm_inconsistent',
      file: TRAIN_PQ,
      row: 'any',
      plant: (d) =>
        plantParquet(
          d,
          TRAIN_PQ,
          `
a = t.column('action').to_pylist(); vp = t.column('viewport').to_pylist()
i = next(i for i, x in enumerate(a) if x['x'] is not None and x['to_x'] is None)
${kind === 'coord' ? "a[i]['x'] = vp[i]['w'] + 50; a[i]['x_norm'] = a[i]['x'] / vp[i]['w']" : "a[i]['x_norm'] = 0.001"}
t = t.set_column(t.schema.get_field_index('action'), t.schema.field('action'), pa.array(a, t.schema.field('action').type))
print(i)`,
        ),
    }),
  ),
  {
    name: 'leak-session',
    id: 'leakage.session_in_two_splits',
    file: TEST_PQ,
    row: 0,
    plant: (d) =>
      plantParquet(
        d,
        TEST_PQ,
        `
tr = pq.read_table(sys.argv[1].replace('test-', 'train-')).column('session_id').to_pylist()
s = t.column('session_id').to_pylist(); victim = s[0]; new = min(tr)
assert new < victim
t = t.set_column(0, t.schema.field('session_id'), pa.array([new if x == victim else x for x in s], pa.string()))`,
      ),
  },
  {
    name: 'leak-frame',
    id: 'leakage.duplicate_frame',
    file: TEST_PQ,
    row: 'any',
    plant: (d) =>
      plantParquet(
        d,
        TEST_PQ,
        `
tr = pq.read_table(sys.argv[1].replace('test-', 'train-'))
trv = tr.column('viewport').to_pylist(); tri = tr.column('image').to_pylist()
vp = t.column('viewport').to_pylist(); img = t.column('image').to_pylist()
i, j = next((i, j) for i in range(len(vp)) for j in range(len(trv)) if vp[i] == trv[j])
img[i] = {'bytes': tri[j]['bytes'], 'path': img[i]['path']}
t = t.set_column(t.schema.get_field_index('image'), t.schema.field('image'), pa.array(img, t.schema.field('image').type))`,
      ),
  },
  // --- Privacy (JSONL copy, one field each)
  {
    name: 'privacy-card',
    id: 'privacy.card_number',
    file: TRAIN_JSONL,
    row: 2,
    plant: (d) =>
      plantJsonl(d, TRAIN_JSONL, 2, (r) => {
        r.action.text = 'paid with 4111 1111 1111 1111 ok';
      }),
  },
  {
    name: 'privacy-email',
    id: 'privacy.email',
    file: TRAIN_JSONL,
    row: 3,
    plant: (d) =>
      plantJsonl(d, TRAIN_JSONL, 3, (r) => {
        r.dom = '{"value":"jane.doe@example.com"}';
      }),
  },
  {
    name: 'privacy-phone',
    id: 'privacy.phone',
    file: TRAIN_JSONL,
    row: 4,
    plant: (d) =>
      plantJsonl(d, TRAIN_JSONL, 4, (r) => {
        r.accessibility_tree = 'textbox "Phone" value="+1 415-555-0132"';
      }),
  },
  {
    name: 'privacy-iban',
    id: 'privacy.iban',
    file: TRAIN_JSONL,
    row: 5,
    plant: (d) =>
      plantJsonl(d, TRAIN_JSONL, 5, (r) => {
        r.extra = '{"bank":"DE89 3704 0044 0532 0130 00"}';
      }),
  },
  {
    name: 'privacy-ssn',
    id: 'privacy.ssn',
    file: TRAIN_JSONL,
    row: 6,
    plant: (d) =>
      plantJsonl(d, TRAIN_JSONL, 6, (r) => {
        r.action.text = 'ssn 219-09-9999';
      }),
  },
  {
    name: 'privacy-api-key',
    id: 'privacy.api_key',
    file: TRAIN_JSONL,
    row: 7,
    plant: (d) =>
      plantJsonl(d, TRAIN_JSONL, 7, (r) => {
        r.action.text = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';
      }),
  },
  {
    name: 'frame-missing',
    id: 'frame.missing',
    file: TRAIN_JSONL,
    row: 1,
    plant: async (d) => {
      const row = JSON.parse((await readFile(path.join(d, TRAIN_JSONL), 'utf8')).split('\n')[1]!) as { image: string };
      await rm(path.join(d, 'jsonl', row.image));
      await refreshManifest(d, [], { drop: [`jsonl/${row.image}`] });
    },
  },
  // --- Arrow / save_to_disk
  {
    name: 'arrow-file-format',
    id: 'arrow.ipc_file_format',
    file: 'arrow/validation/data-00000-of-00001.arrow',
    plant: async (d) => {
      const f = 'arrow/validation/data-00000-of-00001.arrow';
      py(
        `
import sys, pyarrow as pa
p = sys.argv[1]
t = pa.ipc.open_stream(open(p, 'rb')).read_all()
with pa.ipc.new_file(p + '.tmp', t.schema) as w: w.write_table(t)
import os; os.replace(p + '.tmp', p)`,
        path.join(d, f),
      );
      await refreshManifest(d, [f]);
    },
  },
  {
    name: 'arrow-state',
    id: 'arrow.state_json_keys',
    file: 'arrow/train/state.json',
    plant: async (d) => {
      const f = 'arrow/train/state.json';
      const s = JSON.parse(await readFile(path.join(d, f), 'utf8')) as Record<string, unknown>;
      delete s._fingerprint;
      await writeFile(path.join(d, f), JSON.stringify(s, null, 2));
      await refreshManifest(d, [f]);
    },
  },
  {
    name: 'arrow-features',
    id: 'arrow.features_mismatch',
    file: 'arrow/test/dataset_info.json',
    plant: async (d) => {
      const f = 'arrow/test/dataset_info.json';
      const s = JSON.parse(await readFile(path.join(d, f), 'utf8')) as { features: Record<string, { dtype?: string }> };
      s.features.step!.dtype = 'int64';
      await writeFile(path.join(d, f), JSON.stringify(s, null, 2));
      await refreshManifest(d, [f]);
    },
  },
  // --- Across the dataset
  {
    name: 'ds-missing',
    id: 'dataset.file_missing',
    file: 'webdataset/validation.index.json',
    plant: (d) => rm(path.join(d, 'webdataset/validation.index.json')),
  },
  {
    name: 'ds-size',
    id: 'dataset.file_size_mismatch',
    file: 'arrow/dataset_dict.json',
    plant: async (d) => {
      await writeFile(path.join(d, 'arrow/dataset_dict.json'), (await readFile(path.join(d, 'arrow/dataset_dict.json'), 'utf8')) + '\n');
    },
  },
  {
    name: 'ds-sha',
    id: 'dataset.file_sha256_mismatch',
    file: 'arrow/dataset_dict.json',
    plant: async (d) => {
      const p = path.join(d, 'arrow/dataset_dict.json');
      await writeFile(p, (await readFile(p, 'utf8')).replace('train', 'trian'));
    },
  },
  {
    name: 'ds-num-examples',
    id: 'dataset.num_examples_mismatch',
    file: 'README.md',
    plant: async (d) => {
      const p = path.join(d, 'README.md');
      await writeFile(
        p,
        (await readFile(p, 'utf8')).replace(/num_examples: (\d+)/, (_m, n: string) => `num_examples: ${Number(n) + 1}`),
      );
    },
  },
  // --- Shard balance: the clean copy with more ranks than shards
  { name: 'wds-too-few', id: 'wds.too_few_shards', file: 'webdataset/*', flags: ['--world-size', '2'], plant: async () => {} },
  // --- Plants that need more rows than the sample: the large dataset (180 rows, 4 shards of 45, 2 row groups)
  {
    name: 'pq-row-group',
    id: 'parquet.row_group_too_large',
    file: TRAIN_PQ,
    row: 'none',
    base: 'large',
    plant: (d) => plantParquet(d, TRAIN_PQ, '', 'write_page_index=True, row_group_size=150'),
  },
  // Pages of about 64 KB (pyarrow checks the page size every write_batch_size values), no offset index.
  {
    name: 'pq-no-page-index',
    id: 'parquet.no_page_index',
    file: TRAIN_PQ,
    row: 'none',
    base: 'large',
    plant: (d) => plantParquet(d, TRAIN_PQ, '', 'write_page_index=False, row_group_size=100, data_page_size=65536, write_batch_size=4'),
  },
  // 50/40/45/45 samples: with 2 ranks, rank 0 reads shards 0 and 2 (95), rank 1 shards 1 and 3 (85).
  {
    name: 'wds-uneven',
    id: 'wds.uneven_shards',
    file: SHARD,
    flags: ['--world-size', '2'],
    base: 'large',
    plant: (d) => moveSamples(d, 'webdataset/train-000001.tar', SHARD, 5),
  },
];

/** Directory (under the corpus root) of the clean larger dataset the `base: 'large'` plants copy. */
export const LARGE_CLEAN = 'large-clean';

function runCli(args: string[]): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: repoRoot, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.slice(0, 2).join(' ')} failed: ${r.stderr}`);
}

/**
 * The larger clean dataset: 3 sessions × 60 steps of 1440×900 frames (scripts/make-samples.ts),
 * converted to Parquet (row groups of 100 image rows, page index on multi-page chunks) and 4
 * WebDataset shards of 45 samples.
 */
async function makeLargeClean(out: string): Promise<string> {
  const exp = path.join(out, 'large-export');
  const dir = path.join(out, LARGE_CLEAN);
  runCli(['scripts/make-samples.ts', '--sessions', '3', '--steps', '60', '--format', 'jsonl', '--out', exp]);
  runCli(['src/cli/main.ts', 'convert', exp, '--out', dir, '--formats', 'parquet,webdataset', '--split', 'train=1', '--min-shards', '4']);
  await rm(exp, { recursive: true, force: true });
  return dir;
}

/** Make every case under `out` (and the large clean dataset in `out/large-clean`); returns what validate must report for each. */
export async function makeDefectCorpus(clean: string, out: string): Promise<Planted[]> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const large = await makeLargeClean(out);
  const plan: Planted[] = [];
  for (const p of PLANTS) {
    const dir = path.join(out, p.name);
    await cp(p.base === 'large' ? large : clean, dir, { recursive: true });
    await p.plant(dir);
    const entry: Planted = { name: p.name, dir, id: p.id, file: p.file };
    if (p.row !== undefined) entry.row = p.row;
    if (p.member !== undefined) entry.member = p.member;
    if (p.flags) entry.flags = p.flags;
    plan.push(entry);
  }
  return plan;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [clean, out] = process.argv.slice(2);
  if (!clean || !out) {
    process.stderr.write('usage: tsx scripts/make-defect-corpus.ts <clean dataset dir> <out dir>\n');
    process.exit(2);
  }
  const plan = await makeDefectCorpus(clean, out);
  process.stdout.write(JSON.stringify(plan, null, 2) + '\n');
}
