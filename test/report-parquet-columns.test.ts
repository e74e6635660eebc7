/**
 * The report's column-wise Parquet rows (src/export/parquet-columns.ts) against hyparquet's generic
 * rows (readParquet), value for value: a converted sample dataset (nulls, masked text, drags,
 * prior_action null, lists), pyarrow files of other shapes (required and optional structs, nested
 * structs, lists with null and empty entries, several pages per chunk, data pages v1 and v2, plain
 * and dictionary), a shape it leaves to the generic path (a map), and a damaged chunk, which both
 * name the same way (file and row group, one line).
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parquetMetadataAsync } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupsRead, readParquetColumns } from '../src/export/parquet-columns.ts';
import { readParquet } from '../src/export/parquet.ts';
import type { RawItem } from '../src/export/raw.ts';
import { resolveLimits } from '../src/limits.ts';
import { LocalSource } from '../src/source/local.ts';
import { runPython } from './helpers/python.ts';
import { sampleConversion } from './helpers/sample-cache.ts';

/** The columns a dataset report reads. */
const REPORT_COLUMNS = ['session_id', 't_ms', 'viewport', 'action', 'prior_action', 'workflow', 'outcome', 'actor_kind'];

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'parquet-columns-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

type Outcome = { items: RawItem[] } | { error: string };

async function drain(items: AsyncIterable<RawItem>): Promise<Outcome> {
  const out: RawItem[] = [];
  try {
    for await (const it of items) out.push(it);
  } catch (err) {
    return { error: (err as Error).message };
  }
  return { items: out };
}

/** Both readers over one file: their outcomes, and how many row groups the column-wise one built itself and left. */
async function both(dir: string, file: string, columns: string[]) {
  const f = { source: new LocalSource(dir), path: file, name: file, limits: resolveLimits({}) };
  const generic = await drain(readParquet(f, columns));
  const before = { ...groupsRead };
  const columnar = await drain(readParquetColumns(f, columns));
  return { generic, columnar, built: groupsRead.columnar - before.columnar, left: groupsRead.generic - before.generic };
}

const rowsOf = (o: Outcome) => ('items' in o ? o.items.map((i) => (i.kind === 'row' ? i.fields : i)) : []);

describe('column-wise Parquet rows', () => {
  it("a converted dataset's steps rows are hyparquet's rows, value for value", async () => {
    const ds = await sampleConversion(['--formats', 'parquet,jsonl', '--split', 'train=0.6,validation=0.2,test=0.2', '--seed', '1']);
    const files = (await readdir(path.join(ds, 'data'))).filter((f) => f.endsWith('.parquet')).sort();
    expect(files.length).toBeGreaterThan(2);
    const seen = { priorNull: 0, masked: 0, drag: 0, bbox: 0, modifiers: 0, argsText: 0, nullX: 0 };
    for (const name of files) {
      // The report's columns, and every column but the frames (lists of strings, timestamps, JSON text).
      const all = [
        'session_id',
        'step',
        't_ms',
        'viewport',
        'action',
        'prior_action',
        'workflow',
        'outcome',
        'actor_kind',
        'tags',
        'path',
        'started_at',
        'dom',
        'accessibility_tree',
        'extra',
      ];
      for (const columns of [REPORT_COLUMNS, all]) {
        const r = await both(ds, `data/${name}`, columns);
        expect('items' in r.generic, name).toBe(true);
        expect(r.columnar).toEqual(r.generic);
        expect(r.built, name).toBeGreaterThan(0);
        expect(r.left, name).toBe(0);
      }
      const r = await both(ds, `data/${name}`, REPORT_COLUMNS);
      for (const row of rowsOf(r.columnar) as Record<string, Record<string, unknown> | null>[]) {
        const a = row.action!;
        if (row.prior_action === null) seen.priorNull++;
        if (a.text === '[masked]') seen.masked++;
        if (a.to_x !== null) seen.drag++;
        if ((a.target as { bbox?: unknown } | null)?.bbox) seen.bbox++;
        if (Array.isArray(a.modifiers)) seen.modifiers++;
        if (a.args !== '{}') seen.argsText++;
        if (a.x === null) seen.nullX++;
      }
    }
    // The sample has each case the decoding must get right.
    for (const [k, n] of Object.entries(seen)) expect(n, k).toBeGreaterThan(0);
  });

  it('pyarrow files of other shapes: v1 and v2 pages, several pages per chunk, plain and dictionary', async () => {
    const made = await runPython<string[]>(
      `
import json, sys, pyarrow as pa, pyarrow.parquet as pq
out = sys.argv[1]
n = 53
def maybe(i, v, every=5):
    return None if i % every == 0 else v
inner = pa.struct([pa.field('z', pa.string()), pa.field('w', pa.float32())])
st = pa.struct([pa.field('x', pa.int32()), pa.field('y', inner), pa.field('l', pa.list_(pa.int32()))])
req_st = pa.struct([pa.field('a', pa.int64(), nullable=False), pa.field('b', pa.string())])
schema = pa.schema([
    pa.field('id', pa.int64(), nullable=False),
    pa.field('s', pa.string()),
    pa.field('st', st),
    pa.field('req', req_st, nullable=False),
    pa.field('words', pa.list_(pa.string())),
    pa.field('ints', pa.list_(pa.field('element', pa.int32(), nullable=False))),
    pa.field('flag', pa.bool_()),
    pa.field('m', pa.map_(pa.string(), pa.int32())),
])
def row(i):
    y = None if i % 7 == 0 else {'z': maybe(i, f'z{i % 4}', 3), 'w': maybe(i, i / 8, 4)}
    l = None if i % 6 == 0 else [] if i % 6 == 1 else [maybe(j, i * j, 2) for j in range(i % 5)]
    return {
        'id': i,
        's': maybe(i, 'text ' + 'é' * (i % 3) + str(i % 9)),
        'st': None if i % 11 == 0 else {'x': maybe(i, i - 20, 4), 'y': y, 'l': l},
        'req': {'a': -i, 'b': maybe(i, 'b' * (i % 4))},
        'words': None if i % 9 == 0 else [] if i % 9 == 1 else [maybe(j, f'w{i}-{j}', 3) for j in range(1 + i % 4)],
        'ints': None if i % 8 == 0 else list(range(i % 3)),
        'flag': maybe(i, i % 2 == 0),
        'm': None if i % 10 == 0 else {f'k{i % 3}': i},
    }
table = pa.Table.from_pylist([row(i) for i in range(n)], schema=schema)
names = []
for version in ['1.0', '2.0']:
    for dictionary in [True, False]:
        name = f'shapes-v{version[0]}-{"dict" if dictionary else "plain"}.parquet'
        pq.write_table(table, f'{out}/{name}', row_group_size=20, data_page_size=64, data_page_version=version,
                       use_dictionary=dictionary, write_batch_size=8, compression='snappy')
        names.append(name)
print(json.dumps(names))
`,
      { args: [tmp] },
    );
    expect(made.length).toBe(4);
    for (const name of made) {
      const meta = await parquetMetadataAsync((await readFile(path.join(tmp, name))).buffer as ArrayBuffer);
      // Several pages in a chunk: its data starts well before its last page (page size 64 bytes).
      expect(Number(meta.row_groups[0]!.columns[1]!.meta_data!.total_compressed_size), name).toBeGreaterThan(150);
      const r = await both(tmp, name, ['id', 's', 'st', 'req', 'words', 'ints', 'flag']);
      expect('items' in r.generic, name).toBe(true);
      expect(rowsOf(r.columnar).length).toBe(53);
      expect(r.columnar, name).toEqual(r.generic);
      expect(r.built, name).toBe(3);
      expect(r.left, name).toBe(0);
      // A map is not built column-wise: the whole file goes the generic way, with the same rows.
      const m = await both(tmp, name, ['id', 'm']);
      expect(m.columnar, name).toEqual(m.generic);
      expect(m.built, name).toBe(0);
    }
  });

  it('a damaged column chunk fails as the generic reader fails: the file and row group, in one line', async () => {
    const ds = await sampleConversion(['--formats', 'parquet,jsonl', '--split', 'train=0.6,validation=0.2,test=0.2', '--seed', '1']);
    const name = (await readdir(path.join(ds, 'data'))).filter((f) => f.endsWith('.parquet')).sort()[0]!;
    const bytes = await readFile(path.join(ds, 'data', name));
    const meta = await parquetMetadataAsync(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    const group = meta.row_groups.length > 1 ? 1 : 0;
    const chunk = meta.row_groups[group]!.columns.find((c) => c.meta_data!.path_in_schema.join('.') === 'action.x')!.meta_data!;
    const at = Number(chunk.dictionary_page_offset || chunk.data_page_offset);
    const damaged = Buffer.from(bytes);
    damaged.fill(0xff, at, at + 12);
    await writeFile(path.join(tmp, 'damaged.parquet'), damaged);
    const r = await both(tmp, 'damaged.parquet', REPORT_COLUMNS);
    expect('error' in r.generic).toBe(true);
    expect(r.columnar).toEqual(r.generic);
    const message = (r.columnar as { error: string }).error;
    expect(message).toMatch(new RegExp(`^damaged\\.parquet: row group ${group} \\(rows \\d+\\.\\.\\d+\\) cannot be read`));
    expect(message).not.toContain('\n');
    expect(r.left).toBe(1);
  });
});
