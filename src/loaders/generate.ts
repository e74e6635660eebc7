/**
 * `nusomi-hf loaders` as a function: read the manifest (local or Hub), render the modules and
 * README, write them under `out` (temp name, fsync, rename: never a half-written module).
 */
import { openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { mkdirsSync } from '../mkdirs.ts';
import { renderLoaders } from './render.ts';
import type { LoaderOrigin, RenderedFile } from './render.ts';
import { readLoaderInput } from './source.ts';
import type { ReadLoaderInputOptions } from './source.ts';
import type { LoaderTarget } from './targets.ts';

export interface GenerateLoadersOptions extends ReadLoaderInputOptions {
  /** Dataset directory, or `org/name[@revision]` on the Hub. */
  source: string;
  out: string;
  targets?: LoaderTarget[];
  name?: string;
}

export interface GenerateLoadersResult {
  name: string;
  origin: LoaderOrigin;
  targets: LoaderTarget[];
  /** Written file names, relative to `out`. */
  files: string[];
}

export async function generateLoaders(opts: GenerateLoadersOptions): Promise<GenerateLoadersResult> {
  const input = await readLoaderInput(opts.source, opts);
  const rendered = renderLoaders(input, {
    ...(opts.targets && { targets: opts.targets }),
    ...(opts.name !== undefined && { name: opts.name }),
    generatorVersion: packageVersion(),
  });
  mkdirsSync(opts.out);
  for (const f of rendered.files) writeAtomic(path.join(opts.out, f.path), f);
  return { name: rendered.name, origin: input.origin, targets: rendered.targets, files: rendered.files.map((f) => f.path) };
}

function writeAtomic(file: string, f: RenderedFile): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, f.content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

let version: string | undefined;
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
