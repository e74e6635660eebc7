/**
 * The features model: one description of a table's columns that yields every schema the outputs
 * need, so Parquet, Arrow, the card and the `huggingface` metadata can never disagree.
 *
 * Rules `datasets` 5 enforces (https://huggingface.co/docs/datasets/about_dataset_features): every field nullable at
 * every level, Image = struct<bytes: binary, path: string> in that order, ClassLabel stored int64.
 */
import type { ParquetWriter } from 'hyparquet-writer';

/** hyparquet-writer's own SchemaElement (it bundles its own hyparquet version). */
export type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];

/**
 * `timestamp[ms, tz=UTC]`: an instant, stored as int64 milliseconds since the epoch (UTC). Its
 * name is the Arrow type as `datasets` writes it in `Value(dtype)`.
 */
export const TIMESTAMP_MS_UTC = 'timestamp[ms, tz=UTC]';
export type Dtype = 'string' | 'int32' | 'int64' | 'float32' | 'float64' | 'bool' | 'binary' | typeof TIMESTAMP_MS_UTC;

export interface ValueFeature {
  readonly kind: 'value';
  readonly dtype: Dtype;
  /** A `string` column that holds JSON text (documentation only; stored and declared as Value("string")). */
  readonly jsonText?: boolean;
}
export interface ClassLabelFeature {
  readonly kind: 'class_label';
  readonly names: readonly string[];
}
export interface ImageFeature {
  readonly kind: 'image';
}
export interface ListFeature {
  readonly kind: 'list';
  readonly feature: Feature;
}
export interface StructFeature {
  readonly kind: 'struct';
  readonly fields: Readonly<Record<string, Feature>>;
}
export type Feature = ValueFeature | ClassLabelFeature | ImageFeature | ListFeature | StructFeature;

/** A table's columns, in column order (JS keeps string-key insertion order). */
export type Features = Readonly<Record<string, Feature>>;

export const Value = (dtype: Dtype): ValueFeature => ({ kind: 'value', dtype });
/**
 * JSON text in a plain string column. Declared `Value("string")`, not `Json`: datasets 5 only
 * recognises `Json` on a Parquet column with the JSON logical type / an `arrow.json` extension
 * field, and then yields decoded objects; plain text loads the same from Parquet, Arrow, JSONL,
 * polars and duckdb.
 */
export const JsonText = (): ValueFeature => ({ kind: 'value', dtype: 'string', jsonText: true });
export const ClassLabel = (names: readonly string[]): ClassLabelFeature => ({ kind: 'class_label', names: [...names] });
export const Image = (): ImageFeature => ({ kind: 'image' });
export const List = (feature: Feature): ListFeature => ({ kind: 'list', feature });
export const Struct = (fields: Record<string, Feature>): StructFeature => ({ kind: 'struct', fields });

// ---------------------------------------------------------------------------------------------
// Hub JSON (`Features.to_dict()`): what goes into the `huggingface` metadata and dataset_info.json.

type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

function featureToDict(f: Feature): { [k: string]: JsonValue } {
  switch (f.kind) {
    case 'value':
      return { dtype: f.dtype, _type: 'Value' };
    case 'class_label':
      return { names: [...f.names], _type: 'ClassLabel' };
    case 'image':
      return { _type: 'Image' };
    case 'list':
      return { feature: featureToDict(f.feature), _type: 'List' };
    case 'struct':
      return featuresToDict(f.fields);
  }
}

/** `Features.to_dict()` form. */
export function featuresToDict(features: Features): { [k: string]: JsonValue } {
  const out: { [k: string]: JsonValue } = {};
  for (const [name, f] of Object.entries(features)) out[name] = featureToDict(f);
  return out;
}

/** The value of the `huggingface` key/value (Parquet) or schema metadata (Arrow) entry. */
export function huggingfaceMetadata(features: Features): string {
  return JSON.stringify({ info: { features: featuresToDict(features) } });
}

// ---------------------------------------------------------------------------------------------
// README YAML (`Features._to_yaml_list()`): the `dataset_info.features` list of the card.

export type YamlFeature = { [k: string]: unknown };

function featureToYaml(f: Feature): YamlFeature {
  switch (f.kind) {
    case 'value':
      return { dtype: f.dtype };
    case 'image':
      return { dtype: 'image' };
    case 'class_label': {
      const names: Record<string, string> = {};
      f.names.forEach((n, i) => {
        names[String(i)] = n;
      });
      return { dtype: { class_label: { names } } };
    }
    case 'struct':
      return { struct: featuresToYamlList(f.fields) };
    case 'list': {
      const inner = featureToYaml(f.feature);
      const keys = Object.keys(inner);
      // datasets simplifies `list: {dtype: x}` to `list: x` and `list: {struct: [...]}` to `list: [...]`.
      if (keys.length === 1 && keys[0] === 'dtype' && typeof inner.dtype === 'string') return { list: inner.dtype };
      if (keys.length === 1 && keys[0] === 'struct') return { list: inner.struct };
      return { list: inner };
    }
  }
}

/** `[{name, dtype|list|struct}, ...]`, as `push_to_hub` writes into the card. */
export function featuresToYamlList(features: Features): YamlFeature[] {
  return Object.entries(features).map(([name, f]) => ({ name, ...featureToYaml(f) }));
}

// ---------------------------------------------------------------------------------------------
// Parquet schema for hyparquet-writer: all OPTIONAL, Image group {bytes, path(String)}, 3-level LIST.

function parquetLeaf(name: string, dtype: Dtype): SchemaElement {
  const repetition_type = 'OPTIONAL' as const;
  switch (dtype) {
    case 'string':
      return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type };
    case 'binary':
      return { name, type: 'BYTE_ARRAY', repetition_type };
    case 'int32':
      return { name, type: 'INT32', repetition_type };
    case 'int64':
      return { name, type: 'INT64', repetition_type };
    case 'float32':
      return { name, type: 'FLOAT', repetition_type };
    case 'float64':
      return { name, type: 'DOUBLE', repetition_type };
    case 'bool':
      return { name, type: 'BOOLEAN', repetition_type };
    // Both annotations, as pyarrow writes them: readers that predate logical types see the converted one.
    case TIMESTAMP_MS_UTC:
      return {
        name,
        type: 'INT64',
        converted_type: 'TIMESTAMP_MILLIS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
        repetition_type,
      };
  }
}

function parquetElements(name: string, f: Feature): SchemaElement[] {
  switch (f.kind) {
    case 'value':
      return [parquetLeaf(name, f.dtype)];
    case 'class_label':
      return [parquetLeaf(name, 'int64')];
    case 'image':
      return [{ name, repetition_type: 'OPTIONAL', num_children: 2 }, parquetLeaf('bytes', 'binary'), parquetLeaf('path', 'string')];
    case 'list':
      return [
        { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        ...parquetElements('element', f.feature),
      ];
    case 'struct': {
      const entries = Object.entries(f.fields);
      return [{ name, repetition_type: 'OPTIONAL', num_children: entries.length }, ...entries.flatMap(([n, c]) => parquetElements(n, c))];
    }
  }
}

/** Flattened (depth-first) Parquet schema, root first, as hyparquet-writer takes it. */
export function toParquetSchema(features: Features): SchemaElement[] {
  const entries = Object.entries(features);
  return [{ name: 'root', num_children: entries.length }, ...entries.flatMap(([n, f]) => parquetElements(n, f))];
}

/** A row value (plain JS, numbers for int64) as hyparquet-writer expects it: int64 as bigint. */
export function toParquetValue(f: Feature, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (f.kind) {
    case 'value':
      return f.dtype === 'int64' || f.dtype === TIMESTAMP_MS_UTC ? BigInt(v as number) : v;
    case 'class_label':
      return BigInt(v as number);
    case 'image':
      return v;
    case 'list':
      return (v as unknown[]).map((x) => toParquetValue(f.feature, x));
    case 'struct': {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [n, c] of Object.entries(f.fields)) out[n] = toParquetValue(c, o[n]);
      return out;
    }
  }
}
