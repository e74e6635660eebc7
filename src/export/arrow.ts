/**
 * Arrow IPC export files, file (`ARROW1` magic, read by random access) or stream format, read
 * record batch by record batch. Values become plain JS (structs → objects, lists → arrays).
 */
import { RecordBatchReader, Vector } from 'apache-arrow';
import type { RecordBatch } from 'apache-arrow';
import { InputError } from '../errors.ts';
import type { DataFile, RawItem } from './raw.ts';

const MAGIC = 'ARROW1';

/** Enough of fs.FileHandle for apache-arrow's random-access file reader, over a Source. */
function fileHandle(file: DataFile, size: number): object {
  return {
    fd: -1,
    async stat() {
      return { size };
    },
    async read(buffer: Uint8Array, offset: number, length: number, position: number) {
      const bytes = await file.source.read(file.path, { start: position, end: position + length });
      buffer.set(bytes, offset);
      return { bytesRead: bytes.length, buffer };
    },
    async close() {},
  };
}

/** An Arrow value as plain JS: bigint and Uint8Array stay (normalisation deals with them). */
export function arrowToPlain(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object') return v;
  if (v instanceof Uint8Array) return v;
  if (v instanceof Vector) return [...v].map(arrowToPlain);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>, arrowToPlain);
  if (Array.isArray(v)) return v.map(arrowToPlain);
  if (v instanceof Date) return v.toISOString();
  // StructRow / MapRow proxies: toJSON gives their entries (nested values still Arrow).
  const obj = typeof (v as { toJSON?: unknown }).toJSON === 'function' ? (v as { toJSON(): object }).toJSON() : v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(obj)) out[k] = arrowToPlain(x);
  return out;
}

function badArrow(file: DataFile, err: unknown): unknown {
  if (err instanceof InputError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new InputError(`not a readable Arrow IPC file or stream (${msg})`, { file: file.name });
}

export async function* readArrow(file: DataFile): AsyncIterable<RawItem> {
  const size = await file.source.size(file.path);
  const head = new TextDecoder().decode(await file.source.read(file.path, { start: 0, end: Math.min(size, 6) }));
  let batches: AsyncIterator<RecordBatch>;
  let reader: RecordBatchReader;
  try {
    reader =
      head === MAGIC
        ? await RecordBatchReader.from(fileHandle(file, size) as never)
        : await RecordBatchReader.from(file.source.stream(file.path));
    reader = await reader.open();
    batches = (reader as AsyncIterable<RecordBatch>)[Symbol.asyncIterator]();
  } catch (err) {
    throw badArrow(file, err);
  }
  let row = 0;
  let sawSchema = false;
  for (;;) {
    let next: IteratorResult<RecordBatch>;
    try {
      next = await batches.next();
    } catch (err) {
      throw badArrow(file, err);
    }
    if (next.done) break;
    const batch = next.value;
    sawSchema = true;
    const names = batch.schema.fields.map((f) => f.name);
    const columns = names.map((_, i) => batch.getChildAt(i));
    for (let i = 0; i < batch.numRows; i++) {
      const fields: Record<string, unknown> = {};
      for (let c = 0; c < names.length; c++) fields[names[c]!] = arrowToPlain(columns[c]?.get(i));
      yield { kind: 'row', fields, origin: { file: file.name, row }, columnar: true };
      row++;
    }
  }
  // A stream reader given garbage can end without a schema instead of failing.
  if (!sawSchema && size > 0 && !reader.schema) {
    throw new InputError('not a readable Arrow IPC file or stream (no schema message found)', { file: file.name });
  }
}
