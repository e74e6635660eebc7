/**
 * manifest.json of an export: parsed and checked field by field, so a bad manifest gets one clear
 * message naming the field and what was expected. Every field is kept verbatim in `raw`.
 */
import { InputError } from '../errors.ts';
import { DEFAULT_LIMITS, parseJsonText } from '../limits.ts';
import type { InputLimits } from '../limits.ts';
import type { Source } from '../source/types.ts';
import type { ExportFormat, ExportManifest, ManifestFile } from './manifest-types.ts';
import type { JsonObject } from './step.ts';

export const MANIFEST_NAME = 'manifest.json';
const FORMATS: readonly ExportFormat[] = ['parquet', 'jsonl', 'arrow', 'webdataset'];

function show(v: unknown): string {
  if (v === undefined) return 'nothing (field missing)';
  const s = JSON.stringify(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function fieldError(file: string, field: string, expected: string, got: unknown): InputError {
  return new InputError(`field "${field}": expected ${expected}, got ${show(got)}`, { file });
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Parse and check manifest bytes; `file` names the manifest in messages (`manifest.json` or its URL). */
export function parseManifest(
  bytes: Uint8Array,
  file: string = MANIFEST_NAME,
  limits: Pick<InputLimits, 'maxJsonDepth'> = DEFAULT_LIMITS,
): ExportManifest {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError('not valid JSON (not UTF-8 text)', { file });
  }
  const raw = parseJsonText(text, limits.maxJsonDepth, { file });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InputError(`expected a JSON object, got ${Array.isArray(raw) ? 'an array' : show(raw)}`, { file });
  }
  const m = raw as JsonObject;
  const str = (field: string): string => {
    const v = m[field];
    if (typeof v !== 'string') throw fieldError(file, field, 'a string', v);
    return v;
  };
  const count = (field: string): number => {
    const v = m[field];
    if (!isCount(v)) throw fieldError(file, field, 'a non-negative integer', v);
    return v;
  };
  const format = m.format;
  if (typeof format !== 'string' || !FORMATS.includes(format as ExportFormat)) {
    throw fieldError(file, 'format', `one of ${FORMATS.join(', ')}`, format);
  }
  const manifest: ExportManifest = {
    export_id: str('export_id'),
    workflow: str('workflow'),
    format: format as ExportFormat,
    rows: count('rows'),
    shards: count('shards'),
    shard_size_bytes: count('shard_size_bytes'),
    frames: count('frames'),
    actions: count('actions'),
    filter_summary: str('filter_summary'),
    destination: str('destination'),
    created_at: str('created_at'),
    raw: m,
  };
  if (m.files !== undefined) manifest.files = parseFiles(m.files, file);
  return manifest;
}

function parseFiles(v: unknown, file: string): ManifestFile[] {
  if (!Array.isArray(v)) throw fieldError(file, 'files', 'an array of {path | url, bytes?, sha256?}', v);
  return v.map((e: unknown, i: number): ManifestFile => {
    const field = `files[${i}]`;
    if (e === null || typeof e !== 'object' || Array.isArray(e)) throw fieldError(file, field, 'an object', e);
    const o = e as Record<string, unknown>;
    const out: ManifestFile = {};
    if (o.path !== undefined) {
      if (typeof o.path !== 'string' || o.path === '') throw fieldError(file, `${field}.path`, 'a non-empty string', o.path);
      out.path = o.path;
    }
    if (o.url !== undefined) {
      if (typeof o.url !== 'string' || o.url === '') throw fieldError(file, `${field}.url`, 'a non-empty string', o.url);
      out.url = o.url;
    }
    if (out.path === undefined && out.url === undefined) throw fieldError(file, field, 'a "path" or a "url"', e);
    if (o.bytes !== undefined) {
      if (!isCount(o.bytes)) throw fieldError(file, `${field}.bytes`, 'a non-negative integer', o.bytes);
      out.bytes = o.bytes;
    }
    if (o.sha256 !== undefined) {
      if (typeof o.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(o.sha256)) {
        throw fieldError(file, `${field}.sha256`, 'a 64-digit hex string', o.sha256);
      }
      out.sha256 = o.sha256.toLowerCase();
    }
    return out;
  });
}

/** Read and parse `manifest.json` at the root of a source; a missing manifest is an InputError naming it. */
export async function readManifest(source: Source, limits: Pick<InputLimits, 'maxJsonDepth'> = DEFAULT_LIMITS): Promise<ExportManifest> {
  const where = source.describe(MANIFEST_NAME);
  let bytes: Uint8Array;
  if (!(await source.exists(MANIFEST_NAME))) {
    throw new InputError('no manifest.json: an export root holds manifest.json beside its data files', { file: where });
  }
  try {
    bytes = await source.read(MANIFEST_NAME);
  } catch (err) {
    if (err instanceof InputError) {
      throw new InputError(`cannot read the export manifest (${err.message}); an export root holds manifest.json`, { file: where });
    }
    throw err;
  }
  return parseManifest(bytes, MANIFEST_NAME, limits);
}
