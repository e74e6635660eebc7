/**
 * Fixtures of the loaders tests: the bundled sample export converted (CLI, real writers) into a
 * temp dataset directory, and the loaders rendered for it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { generateLoaders } from '../src/loaders/generate.ts';
import type { GenerateLoadersOptions, GenerateLoadersResult } from '../src/loaders/generate.ts';
import { copySampleConversion } from './helpers/sample-cache.ts';

/** `nusomi-hf convert samples/jsonl` with the given extra flags, copied into `out` from the run's shared conversions. */
export async function convertSample(out: string, flags: string[]): Promise<DatasetManifest> {
  await copySampleConversion(flags, out);
  return JSON.parse(readFileSync(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
}

export const SPLIT_FLAGS = ['--split', 'train=0.6,validation=0.2,test=0.2', '--seed', '1'];

export function renderFor(opts: GenerateLoadersOptions): Promise<GenerateLoadersResult> {
  return generateLoaders(opts);
}

/** Python prelude: make the generated modules importable. */
export const importFrom = (dir: string): string => `import sys; sys.path.insert(0, ${JSON.stringify(dir)})\n`;
