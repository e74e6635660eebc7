/**
 * The Parquet files of an extra config (`sft/`, `episodes/`; src/configs): footer, the
 * `huggingface` features against the manifest's `configs.<name>.features`, and every row counted
 * as it is read (one small column, so frames are not read twice: their bytes are hashed apart).
 */
import { parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { FileToCheck, ValidateContext } from './context.ts';
import { sameJson } from './features-json.ts';
import { asyncBuffer } from './parquet.ts';

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
  // Counted as read, never from the footer: one small column is enough (session_id, which configs keep).
  const top = md.schema.slice(1).map((e) => e.name);
  const column = top.includes('session_id') ? 'session_id' : top[0];
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
        columns: column === undefined ? [] : [column],
        utf8: false,
        compressors,
      });
      read += objs.length;
    } catch (err) {
      f.add('rows.unreadable', { ...at, row: rowStart, message: `row group ${g} cannot be read (${(err as Error).message})` });
      return null;
    }
    rowStart += n;
  }
  return read;
}
