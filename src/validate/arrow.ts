/**
 * Arrow / save_to_disk checks: IPC stream format (load_from_disk fails on the file format),
 * state.json keys and data files, dataset_info.json features against the manifest and the file
 * schema, then every row through the shared row checks.
 */
import { RecordBatchReader } from 'apache-arrow';
import type { RecordBatch } from 'apache-arrow';
import { arrowToPlain } from '../export/arrow.ts';
import { toArrowType } from '../hf/arrow-schema.ts';
import { ClassLabel, Image, List, Struct, Value } from '../hf/features.ts';
import type { Dtype, Feature, Features } from '../hf/features.ts';
import type { FileToCheck, JsonFeatures, ValidateContext } from './context.ts';
import { RowWindow, stepsRowToV } from './context.ts';
import { isObj, sameJson } from './features-json.ts';
import { failureReason } from '../limits.ts';

const STATE_KEYS = ['_data_files', '_fingerprint', '_split', '_format_type', '_format_kwargs', '_format_columns', '_output_all_columns'];

/** The manifest's features JSON as the Features model (for the expected Arrow types). */
function toFeature(f: unknown): Feature {
  if (!isObj(f)) throw new Error('feature is not an object');
  switch (f._type) {
    case 'Value':
      return Value(f.dtype as Dtype);
    case 'ClassLabel':
      return ClassLabel(f.names as string[]);
    case 'Image':
      return Image();
    case 'List':
      return List(toFeature(f.feature));
    case undefined:
      return Struct(Object.fromEntries(Object.entries(f).map(([k, v]) => [k, toFeature(v)])));
    default:
      throw new Error(`unknown feature type ${String(f._type)}`);
  }
}

function featuresFromJson(features: JsonFeatures): Features {
  return Object.fromEntries(Object.entries(features).map(([k, v]) => [k, toFeature(v)]));
}

async function readJson(ctx: ValidateContext, path: string): Promise<unknown> {
  return JSON.parse(Buffer.from(await ctx.source.read(path)).toString('utf8'));
}

/** state.json and dataset_info.json of one split directory (`arrow/train/`). */
export async function checkSaveToDiskDir(ctx: ValidateContext, dir: string, listed: ReadonlySet<string>): Promise<void> {
  const f = ctx.findings;
  const statePath = `${dir}/state.json`;
  if (!listed.has(statePath)) {
    f.add('arrow.state_json_keys', { file: statePath, message: 'state.json is missing' });
  } else {
    try {
      const state = (await readJson(ctx, statePath)) as Record<string, unknown>;
      const missing = STATE_KEYS.filter((k) => !(k in state));
      if (missing.length) f.add('arrow.state_json_keys', { file: statePath, message: `missing key(s) ${missing.join(', ')}` });
      const files = Array.isArray(state._data_files) ? (state._data_files as Array<{ filename?: unknown }>) : [];
      for (const d of files) {
        if (typeof d.filename !== 'string' || !listed.has(`${dir}/${d.filename}`)) {
          f.add('arrow.state_json_keys', {
            file: statePath,
            message: `_data_files names ${JSON.stringify(d.filename)}, which does not exist`,
          });
        }
      }
    } catch (err) {
      f.add('arrow.state_json_keys', { file: statePath, message: `not valid JSON (${failureReason(err)})` });
    }
  }
  const infoPath = `${dir}/dataset_info.json`;
  if (!listed.has(infoPath)) {
    f.add('arrow.features_mismatch', { file: infoPath, message: 'dataset_info.json is missing' });
  } else if (ctx.features) {
    try {
      const info = (await readJson(ctx, infoPath)) as { features?: unknown };
      if (!sameJson(info.features, ctx.features))
        f.add('arrow.features_mismatch', { file: infoPath, message: 'features differ from dataset-manifest.json features' });
    } catch (err) {
      f.add('arrow.features_mismatch', { file: infoPath, message: `not valid JSON (${failureReason(err)})` });
    }
  }
}

/** Checks one Arrow stream file; returns the rows read, or null when it cannot be read to its end. */
export async function checkArrow(ctx: ValidateContext, file: FileToCheck): Promise<number | null> {
  const f = ctx.findings;
  const at = { file: file.path };
  const head = Buffer.from(await ctx.source.read(file.path, { start: 0, end: Math.min(file.size, 6) })).toString('latin1');
  if (head === 'ARROW1') {
    f.add('arrow.ipc_file_format', { ...at, message: 'an Arrow IPC *file* (ARROW1 magic); datasets reads only the stream format' });
    return null;
  }
  let it: AsyncIterator<RecordBatch>;
  let reader: RecordBatchReader;
  try {
    reader = await (await RecordBatchReader.from(ctx.source.stream(file.path))).open();
    it = (reader as AsyncIterable<RecordBatch>)[Symbol.asyncIterator]();
  } catch (err) {
    f.add('arrow.unreadable', { ...at, message: `not an Arrow IPC stream (${(err as Error).message})` });
    return null;
  }
  if (ctx.features) {
    let expected: Features | null;
    try {
      expected = featuresFromJson(ctx.features);
    } catch {
      expected = null;
    }
    const schema = reader.schema;
    if (expected && schema) {
      const diffs: string[] = [];
      const names = Object.keys(expected);
      const got = schema.fields.map((x) => x.name);
      if (names.join(',') !== got.join(',')) diffs.push(`columns [${got.join(', ')}]`);
      for (const fld of schema.fields) {
        const want = expected[fld.name];
        if (want && String(toArrowType(want)) !== String(fld.type))
          diffs.push(`${fld.name}: ${String(fld.type)}, features say ${String(toArrowType(want))}`);
      }
      if (diffs.length)
        f.add('arrow.features_mismatch', { ...at, message: `file schema differs from the features: ${diffs.slice(0, 3).join('; ')}` });
    }
  }
  const win = new RowWindow(ctx, 'arrow', file.split);
  let row = 0;
  let whole = true;
  for (;;) {
    let next: IteratorResult<RecordBatch>;
    try {
      next = await it.next();
    } catch (err) {
      f.add('arrow.unreadable', { ...at, row, message: `the stream breaks after ${row} rows (${(err as Error).message})` });
      whole = false;
      break;
    }
    if (next.done) break;
    const batch = next.value;
    const names = batch.schema.fields.map((x) => x.name);
    const cols = names.map((_, i) => batch.getChildAt(i));
    for (let i = 0; i < batch.numRows; i++) {
      const obj: Record<string, unknown> = {};
      for (let c = 0; c < names.length; c++) obj[names[c]!] = arrowToPlain(cols[c]?.get(i));
      const v = stepsRowToV(obj, { format: 'arrow', split: file.split, loc: { ...at, row } });
      const img = obj.image as { bytes?: unknown } | null;
      await win.push(v, img?.bytes instanceof Uint8Array ? ctx.pool.check(img.bytes.slice()) : null);
      row++;
    }
  }
  await win.drain();
  return whole ? row : null;
}
