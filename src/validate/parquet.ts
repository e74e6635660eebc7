/**
 * Parquet checks: magic and footer, the `huggingface` metadata, the rules `datasets` applies
 * silently when it recovers features (nullable fields, Image struct layout, ClassLabel as int64, no
 * large_binary — any of them and the feature is dropped without an error), row group sizes for the
 * Hub viewer, the page index, then every row through the shared row checks.
 */
import { RecordBatchReader, Type } from 'apache-arrow';
import type { DataType, Field } from 'apache-arrow';
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { AsyncBuffer, ColumnChunk, FileMetaData, SchemaElement } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { compressors } from 'hyparquet-compressors';
import type { FileToCheck, ValidateContext } from './context.ts';
import { RowWindow, stepsRowToV } from './context.ts';
import { featurePaths, sameJson } from './features-json.ts';

const MAX_IMAGE_ROWS = 100;
const MAX_GROUP_BYTES = 100e6;
/** Below this uncompressed size a chunk is one page in every writer we know: no need to count. */
const ONE_PAGE = 1 << 20;
/** Bytes read for one page header (thrift; with statistics of long strings it can pass a few KiB). */
const PAGE_HEADER_READ = 64 << 10;

/**
 * Data pages in a column chunk, counted from the page headers (stops at 2: all the page-index
 * check needs). Size alone cannot tell: a single page of one large value passes 1 MiB.
 */
async function dataPages(buf: AsyncBuffer, chunk: ColumnChunk): Promise<number> {
  const md = chunk.meta_data;
  if (!md) return 0;
  let pos = Number(md.dictionary_page_offset ?? md.data_page_offset);
  if (md.dictionary_page_offset !== undefined && Number(md.data_page_offset) < pos) pos = Number(md.data_page_offset);
  const end = Math.min(pos + Number(md.total_compressed_size), buf.byteLength);
  let pages = 0;
  while (pos < end && pages < 2) {
    const bytes = await buf.slice(pos, Math.min(end, pos + PAGE_HEADER_READ));
    const reader = { view: new DataView(bytes), offset: 0 };
    const header = parquetHeader(reader);
    if (header.type === 'DATA_PAGE' || header.type === 'DATA_PAGE_V2') pages++;
    pos += reader.offset + header.compressed_page_size;
  }
  return pages;
}

export function asyncBuffer(ctx: ValidateContext, path: string, byteLength: number): AsyncBuffer {
  return {
    byteLength,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const b = await ctx.source.read(path, { start, end: end ?? byteLength });
      // hyparquet wants a plain ArrayBuffer: a view of part of one, or shared memory, is copied.
      return b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
        ? b.buffer
        : (b.slice().buffer as ArrayBuffer);
    },
  };
}

interface Node {
  el: SchemaElement;
  path: string;
  children: Node[];
}

function schemaTree(schema: SchemaElement[]): Node {
  let i = 0;
  const build = (prefix: string): Node => {
    const el = schema[i++]!;
    const path = prefix === null || i === 1 ? '' : prefix ? `${prefix}.${el.name}` : el.name;
    const node: Node = { el, path, children: [] };
    for (let c = 0; c < (el.num_children ?? 0); c++) node.children.push(build(path));
    return node;
  };
  return build('');
}

/** Node by feature path (`action.type`), stepping through LIST groups (`x.element`). */
function find(root: Node, featurePath: string): Node | undefined {
  let node: Node | undefined = root;
  for (const part of featurePath.split('.')) {
    if (!node) return undefined;
    if (part === 'element') node = node.children[0]?.children[0];
    else node = node.children.find((c) => c.el.name === part);
  }
  return node;
}

/** The Arrow schema pyarrow stored in `ARROW:schema` (an IPC schema message, base64). */
async function storedArrowSchema(b64: string): Promise<Field[] | null> {
  try {
    const msg = new Uint8Array(Buffer.from(b64, 'base64'));
    const bytes = new Uint8Array(msg.length + 8);
    bytes.set(msg);
    bytes.set([0xff, 0xff, 0xff, 0xff], msg.length); // end-of-stream marker after the schema message
    const reader = await RecordBatchReader.from(bytes);
    return reader.open().schema.fields;
  } catch {
    return null;
  }
}

function largeTypes(fields: Field[], prefix = ''): string[] {
  const out: string[] = [];
  for (const f of fields) {
    const p = prefix ? `${prefix}.${f.name}` : f.name;
    const t: DataType = f.type;
    if (t.typeId === Type.LargeBinary || t.typeId === Type.LargeUtf8 || t.typeId === Type.LargeList) out.push(`${p} (${String(t)})`);
    if (t.children?.length) out.push(...largeTypes(t.children, p));
  }
  return out;
}

/** Checks one Parquet file; returns the rows read, or null when it cannot be read to its end. */
export async function checkParquet(ctx: ValidateContext, file: FileToCheck): Promise<number | null> {
  const f = ctx.findings;
  const at = { file: file.path };
  const size = file.size;
  if (size < 12) {
    f.add('parquet.bad_magic', { ...at, message: `only ${size} bytes: not a Parquet file` });
    return null;
  }
  const head = await ctx.source.read(file.path, { start: 0, end: 4 });
  const tail = await ctx.source.read(file.path, { start: size - 8, end: size });
  const magic = (b: Uint8Array) => Buffer.from(b).toString('latin1') === 'PAR1';
  if (!magic(head) || !magic(tail.subarray(4))) {
    f.add('parquet.bad_magic', {
      ...at,
      message: `the "PAR1" magic is missing at the ${magic(head) ? 'end' : 'start'} (writer not closed or file cut)`,
    });
    return null;
  }
  const buf = asyncBuffer(ctx, file.path, size);
  let md: FileMetaData;
  try {
    md = await parquetMetadataAsync(buf);
  } catch (err) {
    f.add('parquet.bad_magic', { ...at, message: `the footer cannot be read (${(err as Error).message})` });
    return null;
  }
  const kv = new Map((md.key_value_metadata ?? []).map((e) => [e.key, e.value ?? '']));
  const hf = kv.get('huggingface');
  if (hf === undefined) {
    f.add('parquet.hf_metadata_missing', {
      ...at,
      message: 'no "huggingface" key/value metadata: Image and ClassLabel load as plain structs/ints',
    });
  } else if (ctx.features) {
    let parsed: unknown;
    try {
      parsed = (JSON.parse(hf) as { info?: { features?: unknown } }).info?.features;
    } catch {
      parsed = undefined;
    }
    if (!sameJson(parsed, ctx.features))
      f.add('parquet.hf_metadata_mismatch', { ...at, message: 'the "huggingface" features differ from dataset-manifest.json features' });
  }

  const tree = schemaTree(md.schema);
  const required: string[] = [];
  const walk = (n: Node, inList: boolean): void => {
    for (const c of n.children) {
      const listMiddle = inList && c.el.repetition_type === 'REPEATED';
      if (c.el.repetition_type === 'REQUIRED') required.push(c.path);
      walk(c, !listMiddle && c.el.converted_type === 'LIST');
    }
  };
  walk(tree, false);
  if (required.length) {
    f.add('parquet.non_nullable_field', {
      ...at,
      message: `non-nullable field(s): ${required.slice(0, 5).join(', ')}: datasets ignores the feature metadata of such fields`,
    });
  }
  const paths = ctx.features ? featurePaths(ctx.features) : { images: [] as string[], classLabels: {} as Record<string, number> };
  for (const p of paths.images) {
    const n = find(tree, p);
    if (!n) continue;
    const [b, pa] = n.children;
    const ok =
      n.children.length === 2 &&
      b?.el.name === 'bytes' &&
      b.el.type === 'BYTE_ARRAY' &&
      b.el.converted_type !== 'UTF8' &&
      pa?.el.name === 'path' &&
      pa.el.type === 'BYTE_ARRAY' &&
      (pa.el.converted_type === 'UTF8' || pa.el.logical_type?.type === 'STRING');
    if (!ok) {
      const got = n.children
        .map((c) => `${c.el.name}: ${c.el.type ?? 'group'}${c.el.converted_type ? `/${c.el.converted_type}` : ''}`)
        .join(', ');
      f.add('parquet.image_struct_layout', {
        ...at,
        message: `Image column ${p} is struct<${got}>, expected struct<bytes: binary, path: string>`,
      });
    }
  }
  for (const p of Object.keys(paths.classLabels)) {
    const n = find(tree, p);
    if (n && n.el.type !== 'INT64')
      f.add('parquet.classlabel_not_int64', {
        ...at,
        message: `ClassLabel column ${p} is stored as ${n.el.type}${n.el.converted_type ? `/${n.el.converted_type}` : ''}, expected int64`,
      });
  }
  const arrowSchema = kv.get('ARROW:schema');
  if (arrowSchema) {
    const fields = await storedArrowSchema(arrowSchema);
    const large = fields ? largeTypes(fields) : [];
    if (large.length)
      f.add('parquet.large_binary', { ...at, message: `large types in the stored Arrow schema: ${large.slice(0, 5).join(', ')}` });
  }
  const hasImage = paths.images.length > 0 || md.schema.some((e) => e.name === 'image');
  let rowStart = 0;
  let reportedIndex = false;
  for (const [g, rg] of md.row_groups.entries()) {
    const n = Number(rg.num_rows);
    const bytes = Number(rg.total_byte_size);
    if ((hasImage && n > MAX_IMAGE_ROWS) || bytes > MAX_GROUP_BYTES) {
      f.add('parquet.row_group_too_large', {
        ...at,
        message: `row group ${g} (rows ${rowStart}..${rowStart + n - 1}) has ${n} rows, ${(bytes / 1e6).toFixed(1)} MB uncompressed`,
      });
    }
    for (const c of reportedIndex ? [] : rg.columns) {
      if (!(Number(c.meta_data?.total_uncompressed_size ?? 0) > ONE_PAGE && c.offset_index_offset === undefined)) continue;
      let pages: number;
      try {
        pages = await dataPages(buf, c);
      } catch (err) {
        f.add('rows.unreadable', {
          ...at,
          message: `column ${c.meta_data?.path_in_schema.join('.')} in row group ${g}: a page header cannot be read (${(err as Error).message})`,
        });
        break;
      }
      if (pages < 2) continue;
      reportedIndex = true;
      f.add('parquet.no_page_index', {
        ...at,
        message: `column ${c.meta_data?.path_in_schema.join('.')} in row group ${g} spans several pages but has no offset index`,
      });
    }
    rowStart += n;
  }
  const win = new RowWindow(ctx, 'parquet', file.split);
  // Rows are counted as they are read, never taken from the footer (which a cut file can keep).
  let read = 0;
  let whole = true;
  rowStart = 0;
  for (const [g, rg] of md.row_groups.entries()) {
    const n = Number(rg.num_rows);
    if (n === 0) continue;
    let objs: Record<string, unknown>[];
    try {
      objs = await parquetReadObjects({ file: buf, metadata: md, rowStart, rowEnd: rowStart + n, utf8: false, compressors });
    } catch (err) {
      f.add('rows.unreadable', { ...at, row: rowStart, message: `row group ${g} cannot be read (${(err as Error).message})` });
      rowStart += n;
      whole = false;
      continue;
    }
    read += objs.length;
    for (let i = 0; i < objs.length; i++) {
      const r = objs[i]!;
      const v = stepsRowToV(r, { format: 'parquet', split: file.split, loc: { ...at, row: rowStart + i } });
      const img = (r.image ?? null) as { bytes?: unknown } | null;
      const frame = img?.bytes instanceof Uint8Array ? ctx.pool.check(img.bytes) : null;
      await win.push(v, frame);
    }
    rowStart += n;
  }
  await win.drain();
  return whole ? read : null;
}
