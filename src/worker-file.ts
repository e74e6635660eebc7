/**
 * Worker threads whose code is a TypeScript module under src/ (`*.worker.ts`), so the type-checker
 * sees it. Three ways the code runs, one call for all:
 *  - the CLI bundle (scripts/build.mjs): each worker is bundled beside the CLI as `<name>.js`;
 *  - TypeScript through tsx (bin/, scripts) and vitest: the worker registers tsx's require hook
 *    (tsx's module hooks registered on the main thread do not reach worker threads on Node 20)
 *    and loads the .ts module.
 * Worker modules import only node built-ins and small modules of ours, so either start is quick.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { WorkerOptions } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

/** This module's own file: `.js` inside the bundle, `.ts` when the sources run. */
const BUNDLED = import.meta.url.endsWith('.js');

/** Start the worker whose module is `src/<entry>` (e.g. `sink/hash.worker.ts`). */
export function startWorker(entry: string, options: WorkerOptions = {}): Worker {
  if (BUNDLED) {
    const name = entry.slice(entry.lastIndexOf('/') + 1).replace(/\.ts$/, '.js');
    return new Worker(new URL(`./${name}`, import.meta.url), options);
  }
  const file = fileURLToPath(new URL(`./${entry}`, import.meta.url));
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const boot = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(file)});`;
  return new Worker(boot, { ...options, eval: true });
}
