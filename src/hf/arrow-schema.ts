/**
 * The Arrow schema of a Features description, for apache-arrow: explicit types, all nullable, list
 * item named `item` (pyarrow's), `huggingface` schema metadata. Apart from features.ts so that
 * apache-arrow (~200 ms to load) is loaded only by the Arrow writer and checker.
 */
import {
  Binary,
  Bool,
  Field,
  Float32,
  Float64,
  Int32,
  Int64,
  List as ArrowList,
  Schema,
  Struct as ArrowStruct,
  TimestampMillisecond,
  Utf8,
} from 'apache-arrow';
import type { DataType } from 'apache-arrow';
import { TIMESTAMP_MS_UTC, huggingfaceMetadata, toParquetValue } from './features.ts';
import type { Dtype, Feature, Features } from './features.ts';

function arrowValueType(dtype: Dtype): DataType {
  switch (dtype) {
    case 'string':
      return new Utf8();
    case 'binary':
      return new Binary();
    case 'int32':
      return new Int32();
    case 'int64':
      return new Int64();
    case 'float32':
      return new Float32();
    case 'float64':
      return new Float64();
    case 'bool':
      return new Bool();
    case TIMESTAMP_MS_UTC:
      return new TimestampMillisecond('UTC');
  }
}

export function toArrowType(f: Feature): DataType {
  switch (f.kind) {
    case 'value':
      return arrowValueType(f.dtype);
    case 'class_label':
      return new Int64();
    case 'image':
      return new ArrowStruct([new Field('bytes', new Binary(), true), new Field('path', new Utf8(), true)]);
    case 'list':
      return new ArrowList(new Field('item', toArrowType(f.feature), true));
    case 'struct':
      return new ArrowStruct(Object.entries(f.fields).map(([n, c]) => new Field(n, toArrowType(c), true)));
  }
}

/** Arrow schema with the `huggingface` schema metadata. */
export function toArrowSchema(features: Features): Schema {
  const fields = Object.entries(features).map(([n, f]) => new Field(n, toArrowType(f), true));
  return new Schema(fields, new Map([['huggingface', huggingfaceMetadata(features)]]));
}

/** A row value as apache-arrow builders expect it (int64 as bigint). Same rules as Parquet. */
export const toArrowValue = toParquetValue;
