/**
 * Fixtures of the loaders tests: the bundled sample export converted (CLI, real writers) into a
 * temp dataset directory, and the loaders rendered for it.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { generateLoaders } from '../src/loaders/generate.ts';
import type { GenerateLoadersOptions, GenerateLoadersResult } from '../src/loaders/generate.ts';
import { repoRoot } from './helpers/python.ts';

const run = promisify(execFile);

/** `nusomi-hf convert samples/jsonl` into `out` with the given extra flags. */
export async function convertSample(out: string, flags: string[]): Promise<DatasetManifest> {
  await run(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), 'convert', path.join(repoRoot, 'samples/jsonl'), '--out', out, ...flags], {
    cwd: repoRoot,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(readFileSync(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
}

export const SPLIT_FLAGS = ['--split', 'train=0.6,validation=0.2,test=0.2', '--seed', '1'];

export function renderFor(opts: GenerateLoadersOptions): Promise<GenerateLoadersResult> {
  return generateLoaders(opts);
}

/** Python prelude: make the generated modules importable. */
export const importFrom = (dir: string): string => `import sys; sys.path.insert(0, ${JSON.stringify(dir)})\n`;
