/**
 * Where a partitioned convert keeps its plan, the partitions' records and (locally) the dataset it
 * builds, for one `--out`:
 *  - local folder `<parent>/<name>`: the sibling folder `.<name>.nusomi-parts/` holds `plan.json`,
 *    `done/<i>-of-<n>.json` and `build/` (the new dataset; finalize swaps it in like a convert's
 *    build folder, on the same file system so the rename is atomic);
 *  - s3:// and az://: `<root>/.nusomi-parts/` holds the plan and records; the dataset files are
 *    written in place (an object appears only when its upload completes), as a convert writes them.
 * A plan there means a partitioned convert is under way: a plain convert of the same `--out` refuses.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { openSink } from '../sink/open.ts';
import { LocalSink } from '../sink/local.ts';
import type { ObjectStoreSink, Sink } from '../sink/types.ts';
import { openSource } from '../source/open.ts';
import { urlScheme } from '../util/url-scheme.ts';
import { resolveLocal } from './output.ts';

/** The parts folder's name under an object-store root. */
export const PARTS_DIR = '.nusomi-parts';
export const PLAN_FILE = 'plan.json';
export const DONE_DIR = 'done';

export interface PartitionPlace {
  /** A parts file (plan.json, done/…), or undefined when there is none. */
  read(name: string): Promise<Uint8Array | undefined>;
  /** Write a parts file whole (atomic: temp name then rename, or one PUT). */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** Names of the records under done/, sorted. */
  listDone(): Promise<string[]>;
  /** Remove the parts: plan, records and (local) what is left of the build. */
  clear(): Promise<void>;
  /** Where partitions write the dataset's files. */
  dataSink(): Promise<Sink>;
  /** Committed files where partitions write, with their sizes (paths relative to the dataset root). */
  dataSizes(): Promise<Map<string, number>>;
  /** Local only: the folder the partitions built, which finalize swaps in. */
  readonly buildDir?: string;
  /** A parts file's full name, for messages. */
  describe(name: string): string;
}

export async function partitionPlace(out: string): Promise<PartitionPlace> {
  const scheme = urlScheme(out);
  if (scheme === undefined || scheme === 'file') {
    const abs = resolveLocal(scheme === 'file' ? fileURLToPath(out) : out);
    return localPlace(path.join(path.dirname(abs), `.${path.basename(abs)}.nusomi-parts`));
  }
  return remotePlace(out);
}

/** Refuses a plain convert while a partitioned one is under way at `out` (they would write over each other). */
export async function refuseWhilePartitioned(out: string): Promise<void> {
  const place = await partitionPlace(out);
  if (await place.read(PLAN_FILE)) {
    throw new UsageError(
      `--out ${out} has a partitioned convert under way (${place.describe(PLAN_FILE)}): finish it with convert --finalize, or delete ${place.describe('')} to convert in one run`,
    );
  }
}

function localPlace(dir: string): PartitionPlace {
  const parts = new LocalSink(dir);
  const buildDir = path.join(dir, 'build');
  return {
    buildDir,
    describe: (name) => path.join(dir, name),
    async read(name) {
      try {
        return new Uint8Array(await readFile(path.join(dir, name)));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async write(name, bytes) {
      await parts.writeFile(name, bytes);
    },
    async listDone() {
      const names = await readdir(path.join(dir, DONE_DIR)).catch(() => [] as string[]);
      return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
    },
    async clear() {
      await rm(dir, { recursive: true, force: true });
    },
    async dataSink() {
      return new LocalSink(buildDir);
    },
    async dataSizes() {
      const sizes = new Map<string, number>();
      const entries = await readdir(buildDir, { recursive: true, withFileTypes: true }).catch(() => []);
      for (const e of entries) {
        if (!e.isFile()) continue;
        const full = path.join(e.parentPath, e.name);
        sizes.set(path.relative(buildDir, full).split(path.sep).join('/'), (await stat(full)).size);
      }
      return sizes;
    },
  };
}

async function remotePlace(out: string): Promise<PartitionPlace> {
  const root = out.replace(/[?#].*$/, '').replace(/\/*$/, '/');
  const partsRoot = `${root}${PARTS_DIR}/`;
  const rootSink = (await openSink(root)) as ObjectStoreSink;
  const parts = await openSink(partsRoot);
  const source = await openSource(partsRoot);
  return {
    describe: (name) => partsRoot + name,
    async read(name) {
      return (await source.exists(name)) ? source.read(name) : undefined;
    },
    async write(name, bytes) {
      await parts.writeFile(name, bytes);
    },
    async listDone() {
      const listed = await rootSink.list();
      const prefix = `${PARTS_DIR}/${DONE_DIR}/`;
      return listed
        .filter((p) => p.startsWith(prefix) && p.endsWith('.json'))
        .map((p) => p.slice(prefix.length))
        .sort();
    },
    async clear() {
      await rootSink.remove((await rootSink.list()).filter((p) => p.startsWith(`${PARTS_DIR}/`)));
    },
    async dataSink() {
      return rootSink;
    },
    async dataSizes() {
      const sizes = new Map<string, number>();
      for (const e of await (await openSource(root)).list((p) => !p.startsWith(`${PARTS_DIR}/`))) sizes.set(e.path, e.size ?? -1);
      return sizes;
    },
  };
}
