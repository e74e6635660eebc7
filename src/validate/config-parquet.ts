/**
 * The Parquet files of an extra config (`sft/`, `episodes/`; src/configs): footer, the
 * `huggingface` features against the manifest's `configs.<name>.features`, and every row counted
 * as it is read. Only the columns without frames are read (their bytes are hashed apart), and every
 * string in them is scanned for values that look unmasked, as the steps rows' text is: an sft prompt
 * and completion hold typed text, and a dataset converted without steps has no other rows to scan.
 */
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { FileToCheck, ValidateContext } from './context.ts';
import { sameJson } from './features-json.ts';
import { asyncBuffer } from './parquet.ts';
import { scanText } from './privacy.ts';

/** Whether a `datasets` feature holds images anywhere (an Image, or a list or struct of them). */
function holdsImages(feature: unknown): boolean {
  if (Array.isArray(feature)) return feature.some(holdsImages);
  if (!feature || typeof feature !== 'object') return false;
  const f = feature as Record<string, unknown>;
  return f._type === 'Image' || Object.values(f).some(holdsImages);
}

/** Calls `visit` with every string inside a row value, and the path of fields that leads to it. */
function eachString(value: unknown, path: string, visit: (text: string, path: string) => void): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) for (const v of value) eachString(v, path, visit);
  else if (value && typeof value === 'object' && !(value instanceof Uint8Array))
    for (const [k, v] of Object.entries(value)) eachString(v, `${path}.${k}`, visit);
}

/** Rows of one config file, or null when it cannot be read to its end. */
export async function checkConfigParquet(
  ctx: ValidateContext,
  file: FileToCheck,
  config: string,
  features: unknown,
): Promise<number | null> {
  const f = ctx.findings;
  const at = { file: file.path };
  const buf = asyncBuffer(ctx, file.path, file.size);
  let md: FileMetaData;
  try {
    if (file.size < 12) throw new Error(`only ${file.size} bytes`);
    md = await parquetMetadataAsync(buf);
  } catch (err) {
    f.add('parquet.bad_magic', { ...at, message: `the footer cannot be read (${(err as Error).message})` });
    return null;
  }
  const hf = (md.key_value_metadata ?? []).find((e) => e.key === 'huggingface')?.value;
  let parsed: unknown;
  try {
    parsed = hf === undefined ? undefined : (JSON.parse(hf) as { info?: { features?: unknown } }).info?.features;
  } catch {
    parsed = undefined;
  }
  if (features === undefined) {
    f.add('parquet.hf_metadata_mismatch', { ...at, message: `config ${config} is not among the configs of dataset-manifest.json` });
  } else if (!sameJson(parsed, features)) {
    f.add('parquet.hf_metadata_mismatch', {
      ...at,
      message: `the "huggingface" features differ from dataset-manifest.json configs.${config}.features`,
    });
  }
  // Counted as read, never from the footer: the columns without frames, scanned as they are read
  // (with features unknown, session_id alone, which configs keep, only to count).
  const top = md.schema.slice(1).map((e) => e.name);
  const declared = features && typeof features === 'object' ? (features as Record<string, unknown>) : undefined;
  const textColumns = declared ? Object.keys(declared).filter((c) => top.includes(c) && !holdsImages(declared[c])) : [];
  const columns = textColumns.length ? textColumns : top.includes('session_id') ? ['session_id'] : top.slice(0, 1);
  let read = 0;
  let rowStart = 0;
  for (const [g, rg] of md.row_groups.entries()) {
    const n = Number(rg.num_rows);
    try {
      const objs = await parquetReadObjects({
        file: buf,
        metadata: md,
        rowStart,
        rowEnd: rowStart + n,
        columns,
        utf8: textColumns.length > 0,
        compressors,
      });
      for (const [i, row] of objs.entries()) {
        if (!textColumns.length) break;
        const r = row as Record<string, unknown>;
        const who =
          typeof r.session_id === 'string' ? `session ${r.session_id}${typeof r.step === 'number' ? ` step ${r.step}` : ''}: ` : '';
        for (const c of textColumns)
          eachString(r[c], c, (text, field) => {
            for (const hit of scanText(text)) f.add(hit.id, { ...at, row: rowStart + i, message: `${who}field ${field}: ${hit.excerpt}` });
          });
      }
      read += objs.length;
    } catch (err) {
      f.add('rows.unreadable', { ...at, row: rowStart, message: `row group ${g} cannot be read (${(err as Error).message})` });
      return null;
    }
    rowStart += n;
  }
  return read;
}
