/**
 * The output formats, registered once. Everything that lists formats (convert's `--formats`, the
 * card's configs, push's managed folders, validate's file kinds, the manifest's `formats`) reads
 * this list, in this order. Adding a format: write `src/formats/<name>.ts` (types.ts says what it
 * holds), add its name to FORMAT_NAMES and its module to FORMATS.
 */
import { arrowFormat } from './arrow.ts';
import { jsonlFormat } from './jsonl.ts';
import { parquetFormat } from './parquet.ts';
import type { OutputFormatModule } from './types.ts';
import { webdatasetFormat } from './webdataset.ts';

/** In this order everywhere: convert's fan-out, manifest `formats`, validate's checks, card config preference. */
export const FORMAT_NAMES = ['parquet', 'arrow', 'jsonl', 'webdataset'] as const;
export type OutputFormat = (typeof FORMAT_NAMES)[number];

const FORMATS: { readonly [F in OutputFormat]: OutputFormatModule<F> } = {
  parquet: parquetFormat,
  arrow: arrowFormat,
  jsonl: jsonlFormat,
  webdataset: webdatasetFormat,
};

export const ALL_FORMATS: readonly OutputFormat[] = FORMAT_NAMES;

export function isOutputFormat(name: unknown): name is OutputFormat {
  return typeof name === 'string' && (FORMAT_NAMES as readonly string[]).includes(name);
}

export function formatModule<F extends OutputFormat>(name: F): OutputFormatModule<F> {
  return FORMATS[name];
}

/** Every format's module, in registry order. */
export function formatModules(): OutputFormatModule[] {
  return FORMAT_NAMES.map((n) => FORMATS[n]);
}

/** The data-file format of a path by its name, or null (support files, frames, anything else). */
export function formatOfPath(p: string): OutputFormat | null {
  for (const n of FORMAT_NAMES) if (FORMATS[n].dataFile.test(p)) return n;
  return null;
}
