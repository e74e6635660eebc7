/**
 * One Parquet row group: hyparquet-writer encodes every column, except that large binary leaves
 * (the frames of an Image column or of a list of images) are written by reference instead of
 * through a page buffer.
 *
 * Why not `ParquetWriter.write()`: it copies every frame into a growing page buffer (~1 MB pages of
 * ~150 KB frames), and those 3 GB of short-lived buffers per 20,000 frames made V8 run a full GC
 * about every 64 MB. Here a by-reference page is its header, its levels, then for each value a
 * 4-byte length and the caller's own bytes, appended to the writer (which queues values of 64 KB
 * and more without copying). The bytes are exactly those of hyparquet-writer's PLAIN,
 * uncompressed DATA_PAGE_V2 (same page boundaries, header and metadata); a test compares them.
 *
 * The row group's metadata goes to the ParquetWriter's `row_groups` and `pendingIndexes`, so its
 * `finish()` writes the page indexes and footer as usual.
 */
import type { ParquetWriter } from 'hyparquet-writer';
import type { ColumnSource, PageData, Writer } from 'hyparquet-writer/src/types.js';
import { getPageBoundaries, writeColumn } from 'hyparquet-writer/src/column.js';
import { writeDataPageV2, writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { encodeNestedValues } from 'hyparquet-writer/src/dremel.js';
import { writeRleBitPackedHybrid } from 'hyparquet-writer/src/encoding.js';
import { ByteWriter } from 'hyparquet-writer';
import { getMaxRepetitionLevel, schemaPathResolver } from 'hyparquet-writer/src/schema.js';

// hyparquet-writer's own copy of the hyparquet types (it may pin another hyparquet than ours).
type SchemaTree = Parameters<typeof encodeNestedValues>[0][number];
type ColumnChunk = ReturnType<typeof writeColumn>['chunk'];
type OffsetIndex = NonNullable<ReturnType<typeof writeColumn>['offsetIndex']>;

/** hyparquet-writer's default page size (bytes of values per page). */
const PAGE_SIZE = 1 << 20;

export interface RowGroupColumn extends ColumnSource {
  /** Write BYTE_ARRAY leaves by reference (PLAIN, UNCOMPRESSED, no statistics): media bytes. */
  byReference?: boolean;
}

/** Leaf paths under a column, depth first (the order of the file's column chunks). */
function leafPaths(path: SchemaTree[]): SchemaTree[][] {
  const node = path[path.length - 1]!;
  if (!node.children.length) return [path];
  return node.children.flatMap((child) => leafPaths([...path, child]));
}

/** One schema-path resolver per file schema (it builds the schema tree once). */
const resolvers = new WeakMap<ParquetWriter['schema'], ReturnType<typeof schemaPathResolver>>();

/** Append one row group of `rows` rows; `columns` in schema order, each with its rows' values. */
export function writeRowGroup(pq: ParquetWriter, columns: RowGroupColumn[], rows: number): void {
  const writer = pq.writer;
  let resolve = resolvers.get(pq.schema);
  if (!resolve) resolvers.set(pq.schema, (resolve = schemaPathResolver(pq.schema)));
  const groupStart = writer.offset;
  const chunks: ColumnChunk[] = [];
  for (const c of columns) {
    if (c.data.length !== rows) throw new Error(`parquet column ${c.name} has ${c.data.length} values, expected ${rows}`);
    const codec = c.codec ?? pq.codec;
    for (const leaf of leafPaths(resolve([c.name]))) {
      const schemaPath = leaf.map((n) => n.element);
      const element = schemaPath[schemaPath.length - 1]!;
      const pageData = encodeNestedValues(leaf, c.data);
      // Binary leaves only: a string leaf (the Image struct's `path`) goes through the encoder.
      if (c.byReference && element.type === 'BYTE_ARRAY' && !element.converted_type && !element.logical_type) {
        const pathInSchema = schemaPath.slice(1).map((s) => s.name);
        const maxRepetitionLevel = getMaxRepetitionLevel(schemaPath);
        // A list of frames that holds the same frame more than once (history frames): each once.
        const dictionary = maxRepetitionLevel ? frameDictionary(pageData.values) : undefined;
        const result = dictionary
          ? writeDictionaryByReference(
              writer,
              { pathInSchema, schemaPath, compressors: pq.compressors },
              pageData,
              dictionary,
              c.offsetIndex !== false,
            )
          : writeByReference(writer, pathInSchema, pageData, maxRepetitionLevel, c.offsetIndex !== false);
        chunks.push(result.chunk);
        pq.pendingIndexes.push(result);
        continue;
      }
      const result = writeColumn({
        writer,
        column: {
          columnName: schemaPath
            .slice(1)
            .map((s) => s.name)
            .join('.'),
          element,
          schemaPath,
          codec,
          compressors: pq.compressors,
          stats: c.statistics ?? pq.statistics,
          statisticsTruncateLength: pq.statisticsTruncateLength,
          pageSize: PAGE_SIZE,
          dictionarySize: undefined,
          columnIndex: c.columnIndex ?? false,
          offsetIndex: c.offsetIndex ?? true,
          encoding: c.encoding,
          bloomFilter: c.bloomFilter,
        },
        pageData,
      });
      chunks.push(result.chunk);
      pq.pendingIndexes.push(result);
    }
  }
  let totalByteSize = 0n;
  for (const { meta_data } of chunks) totalByteSize += meta_data?.total_uncompressed_size ?? 0n;
  pq.num_rows += BigInt(rows);
  pq.row_groups.push({
    columns: chunks,
    total_byte_size: totalByteSize,
    num_rows: BigInt(rows),
    total_compressed_size: BigInt(writer.offset - groupStart),
  });
}

/**
 * A BYTE_ARRAY leaf as PLAIN, uncompressed DATA_PAGE_V2 pages whose values are appended as they are.
 * A repeated leaf (a list of images) works the same way: its pages start at row boundaries
 * (repetition level 0), each page carries its repetition levels before its definition levels, and
 * slots without a value (a null or empty list, a null image) have levels but no bytes.
 */
function writeByReference(
  writer: Writer,
  pathInSchema: string[],
  pageData: PageData,
  maxRepetitionLevel: number,
  withOffsetIndex: boolean,
): { chunk: ColumnChunk; offsetIndex?: OffsetIndex } {
  const { values, definitionLevels, repetitionLevels, maxDefinitionLevel } = pageData;
  const chunkStart = writer.offset;
  let uncompressed = 0;
  const pages = getPageBoundaries(values, 'BYTE_ARRAY', undefined, PAGE_SIZE, repetitionLevels);
  const offsetIndex: OffsetIndex | undefined = withOffsetIndex && pages.length > 1 ? { page_locations: [] } : undefined;
  let rowsBefore = 0;
  for (const { start, end } of pages) {
    const pageStart = writer.offset;
    const levels = new ByteWriter();
    let rows = end - start;
    let repLength = 0;
    if (maxRepetitionLevel) {
      const reps = repetitionLevels.slice(start, end);
      rows = 0;
      for (const r of reps) if (r === 0) rows++;
      repLength = writeRleBitPackedHybrid(levels, reps, Math.ceil(Math.log2(maxRepetitionLevel + 1)));
    }
    let nulls = 0;
    let defLength = 0;
    if (maxDefinitionLevel) {
      const defs = definitionLevels.slice(start, end);
      for (const d of defs) if (d < maxDefinitionLevel) nulls++;
      defLength = writeRleBitPackedHybrid(levels, defs, Math.ceil(Math.log2(maxDefinitionLevel + 1)));
    }
    let dataLength = 0;
    const present: Uint8Array[] = [];
    for (let i = start; i < end; i++) {
      const v = values[i] as Uint8Array | null | undefined;
      if (v === null || v === undefined) continue;
      present.push(v);
      dataLength += 4 + v.length;
    }
    const headerStart = writer.offset;
    writePageHeader(writer, {
      type: 'DATA_PAGE_V2',
      uncompressed_page_size: levels.offset + dataLength,
      compressed_page_size: levels.offset + dataLength,
      data_page_header_v2: {
        num_values: end - start,
        num_nulls: nulls,
        num_rows: rows,
        encoding: 'PLAIN',
        definition_levels_byte_length: defLength,
        repetition_levels_byte_length: repLength,
        // As hyparquet-writer sets it for every codec (UNCOMPRESSED included): same bytes.
        is_compressed: true,
      },
    });
    uncompressed += writer.offset - headerStart + levels.offset + dataLength;
    writer.appendBytes(levels.getBytes());
    for (const v of present) {
      writer.appendUint32(v.length);
      writer.appendBytes(v);
    }
    offsetIndex?.page_locations.push({
      offset: BigInt(pageStart),
      compressed_page_size: writer.offset - pageStart,
      first_row_index: BigInt(rowsBefore),
    });
    rowsBefore += rows;
  }
  const chunk: ColumnChunk = {
    meta_data: {
      type: 'BYTE_ARRAY',
      encodings: ['PLAIN'],
      path_in_schema: pathInSchema,
      codec: 'UNCOMPRESSED',
      num_values: BigInt(values.length),
      total_compressed_size: BigInt(writer.offset - chunkStart),
      total_uncompressed_size: BigInt(uncompressed),
      data_page_offset: BigInt(chunkStart),
    },
    file_offset: BigInt(chunkStart),
  };
  return { chunk, ...(offsetIndex ? { offsetIndex } : {}) };
}

/**
 * The distinct frames of a leaf by buffer identity, in order of first use, and each value's index;
 * undefined when no buffer is used twice. No hashing: a writer that repeats a frame (the sft
 * config's history frames) hands the same buffer again, so identity finds every repeat it makes.
 */
function frameDictionary(values: PageData['values']): { frames: Uint8Array[]; indexes: (number | undefined)[] } | undefined {
  const index = new Map<Uint8Array, number>();
  const frames: Uint8Array[] = [];
  const indexes = new Array<number | undefined>(values.length);
  let present = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as Uint8Array | null | undefined;
    if (v === null || v === undefined) continue;
    present++;
    let k = index.get(v);
    if (k === undefined) {
      k = frames.length;
      index.set(v, k);
      frames.push(v);
    }
    indexes[i] = k;
  }
  return frames.length < present ? { frames, indexes } : undefined;
}

/**
 * A BYTE_ARRAY leaf as one PLAIN dictionary page whose frames are appended as they are, then
 * RLE_DICTIONARY data pages of indexes (hyparquet-writer's own page writer: they are small). The
 * same bytes as hyparquet-writer's `encoding: 'RLE_DICTIONARY'`, uncompressed, no statistics.
 */
function writeDictionaryByReference(
  writer: Writer,
  column: { pathInSchema: string[]; schemaPath: ParquetWriter['schema']; compressors: ParquetWriter['compressors'] },
  pageData: PageData,
  dictionary: { frames: Uint8Array[]; indexes: (number | undefined)[] },
  withOffsetIndex: boolean,
): { chunk: ColumnChunk; offsetIndex?: OffsetIndex } {
  const { definitionLevels, repetitionLevels, maxDefinitionLevel } = pageData;
  const chunkStart = writer.offset;
  let dictionaryLength = 0;
  for (const f of dictionary.frames) dictionaryLength += 4 + f.length;
  writePageHeader(writer, {
    type: 'DICTIONARY_PAGE',
    uncompressed_page_size: dictionaryLength,
    compressed_page_size: dictionaryLength,
    dictionary_page_header: { num_values: dictionary.frames.length, encoding: 'PLAIN' },
  });
  let uncompressed = writer.offset - chunkStart + dictionaryLength;
  for (const f of dictionary.frames) {
    writer.appendUint32(f.length);
    writer.appendBytes(f);
  }
  const dataStart = writer.offset;
  const encoder = {
    columnName: column.pathInSchema.join('.'),
    element: column.schemaPath[column.schemaPath.length - 1]!,
    schemaPath: column.schemaPath,
    codec: 'UNCOMPRESSED' as const,
    compressors: column.compressors,
  };
  const { indexes } = dictionary;
  const pages = getPageBoundaries(indexes, 'INT32', undefined, PAGE_SIZE, repetitionLevels);
  const offsetIndex: OffsetIndex | undefined = withOffsetIndex && pages.length > 1 ? { page_locations: [] } : undefined;
  let rowsBefore = 0;
  for (const { start, end } of pages) {
    const pageStart = writer.offset;
    const reps = repetitionLevels.slice(start, end);
    uncompressed += writeDataPageV2({
      writer,
      column: encoder as Parameters<typeof writeDataPageV2>[0]['column'],
      encoding: 'RLE_DICTIONARY',
      pageData: {
        values: indexes.slice(start, end),
        definitionLevels: definitionLevels.slice(start, end),
        repetitionLevels: reps,
        maxDefinitionLevel,
      },
    });
    offsetIndex?.page_locations.push({
      offset: BigInt(pageStart),
      compressed_page_size: writer.offset - pageStart,
      first_row_index: BigInt(rowsBefore),
    });
    for (const r of reps) if (r === 0) rowsBefore++;
  }
  const chunk: ColumnChunk = {
    meta_data: {
      type: 'BYTE_ARRAY',
      encodings: ['PLAIN', 'RLE_DICTIONARY'],
      path_in_schema: column.pathInSchema,
      codec: 'UNCOMPRESSED',
      num_values: BigInt(indexes.length),
      total_compressed_size: BigInt(writer.offset - chunkStart),
      total_uncompressed_size: BigInt(uncompressed),
      data_page_offset: BigInt(dataStart),
      dictionary_page_offset: BigInt(chunkStart),
    },
    file_offset: BigInt(chunkStart),
  };
  return { chunk, ...(offsetIndex ? { offsetIndex } : {}) };
}
