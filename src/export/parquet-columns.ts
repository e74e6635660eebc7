/**
 * The rows of chosen top-level columns of a Parquet file, the same items `readParquet(file,
 * columns)` gives, decoded column-wise: each leaf column chunk is decoded by hyparquet's own page
 * functions (so values convert exactly as hyparquet converts them) into flat definition and
 * repetition levels and values, and rows are built from those arrays directly. hyparquet's generic
 * record assembly (nested arrays per row per leaf, then struct inversion) was most of a report's
 * rows pass; so were its per-row-group plan and one read per column chunk (here: one read per run
 * of adjacent chunks).
 *
 * Shapes built here: primitive columns, structs of them, and 3-level lists of primitives
 * (`LIST` group → repeated `list` → element), at any struct depth. A file with another shape
 * (maps, variants, legacy lists, lists of structs), and a row group whose levels disagree (a struct
 * null in one leaf and present in another, row counts that differ), are read by `readParquet`'s
 * generic path instead: hostile input fails there with the same messages as before.
 */
import { parquetSchema } from 'hyparquet';
import type { AsyncBuffer, ColumnMetaData, DecodedArray, FileMetaData, SchemaTree } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { parquetHeader } from 'hyparquet/src/column.js';
import { DEFAULT_PARSERS, convert, convertWithDictionary } from 'hyparquet/src/convert.js';
import { decompressPage, readDataPage, readDataPageV2 } from 'hyparquet/src/datapage.js';
import { readPlain } from 'hyparquet/src/plain.js';
import type { ColumnDecoder } from 'hyparquet/src/types.js';
import { openParquet, readGroupObjects } from './parquet.ts';
import type { OpenParquet } from './parquet.ts';
import type { DataFile, RawItem } from './raw.ts';

/** Column chunks closer than this are read in one range (the gap's bytes are read and dropped). */
const READ_GAP_BYTES = 64 * 1024;

/** A node of a column's shape, with the definition level at which it is present. */
type Shape =
  | { kind: 'leaf'; leaf: number; def: number; optional: boolean }
  | { kind: 'struct'; fields: [string, Shape][]; template: Record<string, null>; def: number; optional: boolean; leaves: number[] }
  | { kind: 'list'; leaf: number; def: number; optional: boolean; repDef: number };

interface Leaf {
  path: string[];
  schemaPath: SchemaTree[];
  maxDef: number;
  repeated: boolean;
}

/** One leaf column of one row group, decoded: a level per entry (null: every entry a value), the non-null values densely. */
interface LeafData {
  defs: ArrayLike<number> | null;
  reps: ArrayLike<number>;
  values: ArrayLike<unknown>;
  entries: number;
  maxDef: number;
  /** Lists: each row's first entry and first value, and one past the last entry. */
  rowStart: number[];
  valueStart: number[];
  /** Flat leaves: the next value, as rows are built in order. */
  next: number;
}

class Unsupported extends Error {}

const isPlain = (t: SchemaTree) => t.element.converted_type === undefined && t.element.logical_type === undefined;

/** The shape of `node` below a parent present at definition level `def`; null: not built here. */
function shapeOf(node: SchemaTree, def: number, leaves: Leaf[], schemaPath: SchemaTree[]): Shape | null {
  const { element } = node;
  const rep = element.repetition_type;
  if (rep === 'REPEATED') return null;
  const optional = rep !== 'REQUIRED';
  const d = optional ? def + 1 : def;
  const path = [...schemaPath, node];
  if (!node.children.length) {
    leaves.push({ path: node.path, schemaPath: path, maxDef: d, repeated: false });
    return { kind: 'leaf', leaf: leaves.length - 1, def: d, optional };
  }
  if (element.converted_type === 'LIST' && (element.logical_type === undefined || element.logical_type.type === 'LIST')) {
    const list = node.children[0];
    const item = list?.children[0];
    if (node.children.length !== 1 || !list || list.element.repetition_type !== 'REPEATED' || list.children.length !== 1 || !isPlain(list))
      return null;
    if (!item || item.children.length || item.element.repetition_type === 'REPEATED') return null;
    const repDef = d + 1;
    const maxDef = item.element.repetition_type === 'REQUIRED' ? repDef : repDef + 1;
    leaves.push({ path: item.path, schemaPath: [...path, list, item], maxDef, repeated: true });
    return { kind: 'list', leaf: leaves.length - 1, def: d, optional, repDef };
  }
  if (!isPlain(node)) return null;
  const fields: [string, Shape][] = [];
  const first = leaves.length;
  for (const child of node.children) {
    const s = shapeOf(child, d, leaves, path);
    if (!s) return null;
    fields.push([child.element.name, s]);
  }
  const mine = Array.from({ length: leaves.length - first }, (_, i) => first + i);
  const template: Record<string, null> = {};
  for (const [name] of fields) template[name] = null;
  return mine.length ? { kind: 'struct', fields, template, def: d, optional, leaves: mine } : null;
}

interface Page {
  defs: ArrayLike<number> | null;
  reps: ArrayLike<number>;
  values: ArrayLike<unknown>;
  entries: number;
}

/** A leaf's column chunk, decoded page by page as hyparquet's readColumn does, without its list assembly. */
function decodeLeaf(bytes: Uint8Array, decoder: ColumnDecoder, leaf: Leaf): LeafData {
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  const pages: Page[] = [];
  let dictionary: DecodedArray | undefined;
  while (reader.offset < reader.view.byteLength - 1) {
    const header = parquetHeader(reader);
    const compressed = bytes.subarray(reader.offset, reader.offset + header.compressed_page_size);
    if (compressed.length !== header.compressed_page_size) throw new Unsupported('page past the chunk');
    reader.offset += header.compressed_page_size;
    let page: { definitionLevels: number[] | undefined; repetitionLevels: number[]; dataPage: DecodedArray };
    let entries: number;
    let encoding: string;
    if (header.type === 'DICTIONARY_PAGE' && header.dictionary_page_header) {
      const raw = decompressPage(compressed, Number(header.uncompressed_page_size), decoder.codec, decoder.compressors);
      const view = { view: new DataView(raw.buffer, raw.byteOffset, raw.byteLength), offset: 0 };
      dictionary = convert(readPlain(view, decoder.type, header.dictionary_page_header.num_values, decoder.element.type_length), decoder);
      continue;
    } else if (header.type === 'DATA_PAGE' && header.data_page_header) {
      const raw = decompressPage(compressed, Number(header.uncompressed_page_size), decoder.codec, decoder.compressors);
      page = readDataPage(raw, header.data_page_header, decoder);
      entries = header.data_page_header.num_values;
      encoding = header.data_page_header.encoding;
    } else if (header.type === 'DATA_PAGE_V2' && header.data_page_header_v2) {
      page = readDataPageV2(compressed, header, decoder);
      entries = header.data_page_header_v2.num_values;
      encoding = header.data_page_header_v2.encoding;
    } else {
      throw new Unsupported(`page type ${header.type}`);
    }
    // No definition levels: every entry is a value (hyparquet reads it so too).
    const defs = page.definitionLevels?.length ? page.definitionLevels : null;
    if ((defs && defs.length !== entries) || (leaf.repeated && page.repetitionLevels.length !== entries)) throw new Unsupported('levels');
    pages.push({
      defs,
      reps: page.repetitionLevels,
      values: convertWithDictionary(page.dataPage, dictionary, encoding as never, decoder),
      entries,
    });
  }
  // Most chunks are one page: its arrays as they are.
  let whole: Page;
  if (pages.length === 1) {
    const p = pages[0]!;
    // Plain arrays only: typed arrays too would make every value read below megamorphic (3x slower).
    whole = Array.isArray(p.values) ? p : { ...p, values: Array.from(p.values) };
  } else {
    const defs: number[] = [];
    const reps: number[] = [];
    const values: unknown[] = [];
    let entries = 0;
    for (const p of pages) {
      for (let i = 0; i < p.entries; i++) defs.push(p.defs ? p.defs[i]! : leaf.maxDef);
      for (let i = 0; i < p.reps.length; i++) reps.push(p.reps[i]!);
      for (let i = 0; i < p.values.length; i++) values.push(p.values[i]);
      entries += p.entries;
    }
    whole = { defs, reps, values, entries };
  }
  return { ...whole, maxDef: leaf.maxDef, rowStart: [], valueStart: [], next: 0 };
}

/** Whether a decoded leaf's levels make `rows` rows, and its values are as many as its levels say; indexes a list's rows. */
function index(data: LeafData, leaf: Leaf, rows: number): boolean {
  const { defs, reps, values, maxDef, entries } = data;
  let v = 0;
  if (defs) {
    for (let i = 0; i < defs.length; i++) if (defs[i] === maxDef) v++;
  } else {
    v = entries;
  }
  if (v !== values.length) return false;
  if (!leaf.repeated) return entries === rows;
  v = 0;
  for (let i = 0; i < entries; i++) {
    if (reps[i] === 0) {
      data.rowStart.push(i);
      data.valueStart.push(v);
    } else if (i === 0 || reps[i] !== 1) {
      return false;
    }
    if (!defs || defs[i] === maxDef) v++;
  }
  data.rowStart.push(entries);
  return data.rowStart.length === rows + 1;
}

/** A leaf's definition level at row `r` (a list's: its first entry's). */
function defAt(d: LeafData, r: number): number {
  if (!d.defs) return d.maxDef;
  return d.rowStart.length ? d.defs[d.rowStart[r]!]! : d.defs[r]!;
}

/** Whether every leaf under `s` agrees, row by row, on whether `s` (and each struct in it) is present. */
function consistent(s: Shape, leaves: LeafData[], rows: number): boolean {
  if (s.kind !== 'struct') return true;
  for (const [, f] of s.fields) if (!consistent(f, leaves, rows)) return false;
  if (!s.optional) return true;
  for (let r = 0; r < rows; r++) {
    const here = defAt(leaves[s.leaves[0]!]!, r) >= s.def;
    for (let k = 1; k < s.leaves.length; k++) if (defAt(leaves[s.leaves[k]!]!, r) >= s.def !== here) return false;
  }
  return true;
}

/** Row `r`'s value of `s`, as hyparquet assembles it (rows are built in order: flat leaves take their next value). */
function build(s: Shape, data: LeafData[], r: number): unknown {
  if (s.kind === 'leaf') {
    const d = data[s.leaf]!;
    return !d.defs || d.defs[r] === d.maxDef ? d.values[d.next++] : null;
  }
  if (s.kind === 'list') {
    const d = data[s.leaf]!;
    const start = d.rowStart[r]!;
    const def = defAt(d, r);
    if (def < s.def) return null;
    const out: unknown[] = [];
    if (def < s.repDef) return out;
    let v = d.valueStart[r]!;
    for (let i = start, end = d.rowStart[r + 1]!; i < end; i++) out.push(!d.defs || d.defs[i] === d.maxDef ? d.values[v++] : null);
    return out;
  }
  if (s.optional && defAt(data[s.leaves[0]!]!, r) < s.def) return null;
  // A copy of the struct's template has every key already: filling it adds no property (each
  // added one would move the object to a new hidden class).
  const o: Record<string, unknown> = { ...s.template };
  const { fields } = s;
  for (let k = 0; k < fields.length; k++) o[fields[k]![0]] = build(fields[k]![1], data, r);
  return o;
}

interface Column {
  name: string;
  shape: Shape;
}

/** The columns' shapes and leaves, or null when one is not built here. */
function plan(metadata: FileMetaData, columns: string[]): Plan | null {
  const tree = parquetSchema(metadata);
  const leaves: Leaf[] = [];
  const out: Column[] = [];
  // In the file's column order, as hyparquet gives a row's keys.
  for (const child of tree.children) {
    if (!columns.includes(child.element.name)) continue;
    const shape = shapeOf(child, 0, leaves, [tree]);
    if (!shape) return null;
    out.push({ name: child.element.name, shape });
  }
  const template: Record<string, null> = {};
  for (const c of out) template[c.name] = null;
  return { columns: out, leaves, template };
}

interface Plan {
  columns: Column[];
  leaves: Leaf[];
  /** A row's keys, in the file's order. */
  template: Record<string, null>;
}

interface Fetched {
  metas: ColumnMetaData[];
  bytes: Uint8Array[];
}

/** Row group `g`'s leaf column chunks, adjacent ones in one read; null when they are not where `p` expects them. */
async function fetchGroup(file: DataFile, buf: AsyncBuffer, metadata: FileMetaData, g: number, p: Plan): Promise<Fetched | null> {
  const byPath = new Map<string, ColumnMetaData>();
  for (const c of metadata.row_groups[g]!.columns) {
    if (c.file_path || !c.meta_data) return null;
    byPath.set(c.meta_data.path_in_schema.join('.'), c.meta_data);
  }
  const metas: ColumnMetaData[] = [];
  const ranges: { start: number; end: number }[] = [];
  for (const leaf of p.leaves) {
    const meta = byPath.get(leaf.path.join('.'));
    if (!meta) return null;
    const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
    const end = start + Number(meta.total_compressed_size);
    if (!(start >= 0 && end >= start && end <= buf.byteLength)) return null;
    metas.push(meta);
    ranges.push({ start, end });
  }
  // The rows' columns sit in two runs around the frames; a run is never larger than one read may be.
  const order = ranges.map((_, i) => i).sort((a, b) => ranges[a]!.start - ranges[b]!.start);
  const bytes: Uint8Array[] = new Array(ranges.length);
  const reads: Promise<void>[] = [];
  for (let i = 0; i < order.length; ) {
    const start = ranges[order[i]!]!.start;
    let end = ranges[order[i]!]!.end;
    let j = i + 1;
    for (; j < order.length; j++) {
      const r = ranges[order[j]!]!;
      if (r.start > end + READ_GAP_BYTES || Math.max(end, r.end) - start > file.limits.maxMemberBytes) break;
      end = Math.max(end, r.end);
    }
    const members = order.slice(i, j);
    reads.push(
      Promise.resolve(buf.slice(start, end)).then((b) => {
        const run = new Uint8Array(b);
        if (run.length !== end - start) throw new Unsupported('short read');
        for (const k of members) bytes[k] = run.subarray(ranges[k]!.start - start, ranges[k]!.end - start);
      }),
    );
    i = j;
  }
  await Promise.all(reads);
  return { metas, bytes };
}

/** Row group `g`'s rows, built from its leaf columns; null when its levels are not as `p` expects. */
function decodeGroup(rows: number, p: Plan, fetched: Fetched): Record<string, unknown>[] | null {
  const data: LeafData[] = [];
  for (let l = 0; l < p.leaves.length; l++) {
    const leaf = p.leaves[l]!;
    const meta = fetched.metas[l]!;
    const decoder: ColumnDecoder = {
      pathInSchema: meta.path_in_schema,
      element: leaf.schemaPath[leaf.schemaPath.length - 1]!.element,
      schemaPath: leaf.schemaPath,
      type: meta.type,
      codec: meta.codec,
      parsers: DEFAULT_PARSERS,
      compressors,
      utf8: false,
    };
    const d = decodeLeaf(fetched.bytes[l]!, decoder, leaf);
    if (!index(d, leaf, rows)) return null;
    data.push(d);
  }
  for (const c of p.columns) if (!consistent(c.shape, data, rows)) return null;
  const out: Record<string, unknown>[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const row: Record<string, unknown> = { ...p.template };
    for (const c of p.columns) row[c.name] = build(c.shape, data, r);
    out[r] = row;
  }
  return out;
}

/** @internal for tests: row groups built column-wise, and row groups left to the generic path. */
export const groupsRead = { columnar: 0, generic: 0 };

/**
 * Row groups whose reads go out together (two reads each: the local source sends 8 per message to
 * its reader thread, and a message cost the main thread up to ~0.3 ms on a busy machine), asked for
 * while the previous batch is being built.
 */
const READ_AHEAD_GROUPS = 4;

/**
 * `readParquet(file, columns)`'s items, decoded column-wise where the file's shape allows.
 * `open`: opens the file (parses its footer), e.g. once for its rows and its frames' reader.
 */
export async function* readParquetColumns(
  file: DataFile,
  columns: string[],
  open: () => Promise<OpenParquet> = () => openParquet(file),
): AsyncIterable<RawItem> {
  const { buf, metadata } = await open();
  const p = plan(metadata, columns);
  const groups = metadata.row_groups.length;
  const fetches = new Map<number, Promise<Fetched | null> | null>();
  const fetchAt = (g: number): Promise<Fetched | null> | null => {
    if (!p || g >= groups || Number(metadata.row_groups[g]!.num_rows) === 0) return null;
    const f = fetchGroup(file, buf, metadata, g, p);
    // Awaited in turn; until then a failed read must not count as unhandled.
    f.catch(() => {});
    return f;
  };
  const batch = (from: number) => {
    for (let g = from; g < Math.min(from + READ_AHEAD_GROUPS, groups); g++) fetches.set(g, fetchAt(g));
  };
  batch(0);
  let rowStart = 0;
  for (let g = 0; g < groups; g++) {
    if (g % READ_AHEAD_GROUPS === 0) batch(g + READ_AHEAD_GROUPS);
    const fetching = fetches.get(g) ?? null;
    fetches.delete(g);
    const n = Number(metadata.row_groups[g]!.num_rows);
    if (n === 0) continue;
    let rows: Record<string, unknown>[] | null = null;
    try {
      const fetched = await fetching;
      if (fetched) rows = decodeGroup(n, p!, fetched);
    } catch {
      // A chunk that did not read or decode: the generic path reads the group, and names what is wrong.
      rows = null;
    }
    if (rows) {
      groupsRead.columnar++;
    } else {
      groupsRead.generic++;
      rows = await readGroupObjects(file, buf, metadata, g, rowStart, n, columns);
    }
    for (let i = 0; i < rows.length; i++) {
      yield { kind: 'row', fields: rows[i]!, origin: { file: file.name, row: rowStart + i }, columnar: true };
    }
    rowStart += n;
  }
}
