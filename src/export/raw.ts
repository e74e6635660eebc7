/** What format readers yield before normalisation: a raw row, or a problem with one row. */
import type { InputError } from '../errors.ts';
import type { InputLimits } from '../limits.ts';
import type { Source } from '../source/types.ts';
import type { StepOrigin } from './step.ts';

/** One data file of an export, wherever it lives. */
export interface DataFile {
  source: Source;
  /** Path under `source`. */
  path: string;
  /** The file as the user knows it, for messages and origins: relative to the export root, or a URL. */
  name: string;
  /** Bounds on lines, members and JSON nesting the reader enforces. */
  limits: InputLimits;
  /** Rows (non-blank lines, bad ones included) a reader that can passes over without reading them. */
  skipRows?: number;
}

export interface RawRow {
  kind: 'row';
  fields: Record<string, unknown>;
  origin: StepOrigin;
  /** Values came from a columnar file (structs: null keys dropped, dotted names nested, JSON text parsed). */
  columnar: boolean;
  /** normalize.ts's `jsonKind` of `fields`, when the reader found it already (jsonl: in its depth check). */
  jsonKind?: number;
  /** Image bytes that travelled with the row (webdataset member). */
  image?: { bytes: Uint8Array; ext: string; ref: string };
}

/** A row that could not be read; the file can continue after it (e.g. a jsonl line that is not JSON). */
export interface RowProblem {
  kind: 'problem';
  error: InputError;
}

export type RawItem = RawRow | RowProblem;
