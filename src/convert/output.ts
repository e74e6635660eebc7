/**
 * Where a convert writes, across runs: one run at a time holds the `--out` (lock); the output never
 * overlaps the export; a re-run leaves nothing an earlier or killed run wrote that the new manifest
 * does not list. Local outputs are built beside the old dataset and swapped in (output-dir.ts);
 * object stores are written in place and swept after the new manifest is complete.
 */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import { openSink } from '../sink/open.ts';
import type { OutputLock } from '../sink/lock.ts';
import type { ObjectStoreSink, Sink } from '../sink/types.ts';
import { LocalOutputDir, preview } from './output-dir.ts';
import { urlScheme as schemeOf } from '../util/url-scheme.ts';
import { formatModules } from '../formats/registry.ts';
import { configModules } from '../configs/registry.ts';

/** What convert writes at a dataset root; a re-run replaces exactly these. */
export const OWNED_ENTRIES: ReadonlySet<string> = new Set([
  'README.md',
  DATASET_MANIFEST_FILE,
  ...formatModules().map((m) => m.folder.slice(0, -1)),
  ...configModules().map((m) => m.folder.slice(0, -1)),
]);
/** Written beside convert's files by other commands (`loaders`): kept across re-runs. */
export const KEPT_ENTRIES: ReadonlySet<string> = new Set(['loaders']);

/** True for a path (relative to the root) in the layout convert owns. */
export function isOwned(p: string): boolean {
  return OWNED_ENTRIES.has(p.split('/')[0]!);
}

export interface Output {
  /** Sentences for the user about what was found and cleaned up (stale lock, leftovers). */
  readonly notes: string[];
  /** Where the dataset's files go (local: a new folder beside `--out`, swapped in by finish). */
  openSink(): Promise<Sink>;
  /** Local only: a folder built elsewhere (a partitioned convert's) becomes the one finish swaps in. */
  adoptBuild?(folder: string): Promise<Sink>;
  /** After the manifest is written: make the new dataset the output, and drop what it does not list. */
  finish(listed: string[]): Promise<void>;
  /** After a failure: drop what this run wrote where that is possible; an earlier local dataset stays. */
  abort(): Promise<void>;
  /** Give up the lock; failures become notes (a leftover lock is taken over by the next run). */
  release(): Promise<void>;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A local path with symlinks resolved as far as it exists (the rest appended). */
export function resolveLocal(p: string): string {
  let head = path.resolve(p);
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(head), ...rest.reverse());
    } catch {
      const up = path.dirname(head);
      if (up === head) return path.resolve(p);
      rest.push(path.basename(head));
      head = up;
    }
  }
}

function within(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** A comparable form of a root: scheme plus a path that ends in `/`, or undefined when it cannot overlap. */
function placeOf(root: string): string | undefined {
  const scheme = schemeOf(root);
  if (scheme === undefined || scheme === 'file') {
    return 'file:' + resolveLocal(scheme === 'file' ? fileURLToPath(root) : root).replace(/\/*$/, '/');
  }
  if (scheme === 's3' || scheme === 'az')
    return root
      .replace(/^[a-z]+:/i, scheme + ':')
      .replace(/[?#].*$/, '')
      .replace(/\/*$/, '/');
  return undefined;
}

/**
 * `--out` inside the export would have its files read as export data on the next run (data files are
 * found anywhere under the root); the export inside `--out` would be replaced with the output.
 */
export function checkPlaces(input: string, out: string): void {
  const i = placeOf(input);
  const o = placeOf(out);
  if (!i || !o) return;
  if (o.startsWith(i)) {
    throw new UsageError(
      `--out ${out} is inside the export ${input}, whose data files are found anywhere under its root; choose a folder outside the export`,
    );
  }
  if (i.startsWith(o)) {
    throw new UsageError(`the export ${input} is inside --out ${out}, which convert replaces; choose another --out`);
  }
}

/** Check `--out` against the export, take its lock, and clean up what a killed run left there. */
export async function openOutput(out: string, input: string): Promise<Output> {
  checkPlaces(input, out);
  const scheme = schemeOf(out);
  if (scheme === undefined || scheme === 'file') {
    const dir = scheme === 'file' ? fileURLToPath(out) : out;
    if (within(process.cwd(), resolveLocal(dir))) {
      throw new UsageError(
        `--out ${out} is the current folder or holds it; convert replaces the folder as a whole, so run it from outside`,
      );
    }
    return LocalOutputDir.open(out, dir, { owned: OWNED_ENTRIES, kept: KEPT_ENTRIES });
  }
  // `s3://b/p//` would write keys with an empty segment that other tools address as `p/`.
  if (
    out
      .replace(/[?#].*$/, '')
      .replace(/^[a-z0-9]+:\/\/[^/]*/i, '')
      .includes('//')
  ) {
    throw new UsageError(`--out ${out}: the prefix has an empty path segment (//); write it with single slashes`);
  }
  return ObjectStoreOutput.open(out, (await openSink(out)) as ObjectStoreSink);
}

/** s3:// and az://: written in place under the lock; the old manifest goes first, stale objects last. */
class ObjectStoreOutput implements Output {
  readonly notes: string[] = [];

  private constructor(
    private readonly sink: ObjectStoreSink,
    private readonly lock: OutputLock,
  ) {}

  static async open(out: string, sink: ObjectStoreSink): Promise<ObjectStoreOutput> {
    const lock = await sink.lock();
    const output = new ObjectStoreOutput(sink, lock);
    try {
      if (lock.tookOver) output.notes.push(lock.tookOver);
      // As for a local folder: a prefix holding objects convert did not write (a bucket root, a
      // shared folder) is refused, never swept; the sweep would delete what it finds under data/.
      const listed = await sink.list();
      const foreign = [...new Set(listed.map((p) => p.split('/')[0]!))].filter(
        (e) => !OWNED_ENTRIES.has(e) && !KEPT_ENTRIES.has(e) && !(e.startsWith('.') && e.length > 1),
      );
      // Another dataset written to a prefix inside this one (`s3://b/` and `s3://b/data/`) would be swept.
      const nested = listed.find((p) => p.includes('/') && /(^|\/)(dataset-manifest\.json|\.nusomi-lock)$/.test(p));
      if (nested) {
        throw new UsageError(
          `--out ${out} holds another dataset or a running convert at ${sink.describe(nested.slice(0, nested.lastIndexOf('/') + 1))}, which this convert would delete; choose a prefix that holds neither`,
        );
      }
      if (foreign.length) {
        const names = foreign.map((e) => (e === '' ? '(an empty path segment)' : e));
        throw new UsageError(
          `--out ${out} holds objects convert did not write (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}); choose a new or empty prefix, or an earlier convert's output`,
        );
      }
      // Under the lock, any unfinished upload is a killed run's.
      const dropped = await sink.dropUnfinished(isOwned);
      if (dropped.length)
        output.notes.push(`discarded ${count(dropped.length, 'unfinished upload')} a killed run left under ${out}: ${preview(dropped)}`);
    } catch (err) {
      await output.release();
      throw err;
    }
    return output;
  }

  async openSink(): Promise<Sink> {
    // Files are replaced one by one from here on: without a manifest the prefix reads as incomplete.
    await this.sink.remove([DATASET_MANIFEST_FILE]);
    const { sink, lock } = this;
    // The manifest makes the prefix read as complete: never written by a run that lost its lock.
    return {
      root: sink.root,
      describe: (p) => sink.describe(p),
      create: (p) => sink.create(p),
      writeFile: async (p, bytes) => {
        if (p === DATASET_MANIFEST_FILE) await lock.check();
        return sink.writeFile(p, bytes);
      },
    };
  }

  async finish(listed: string[]): Promise<void> {
    await this.lock.check();
    const keep = new Set([...listed, 'README.md', DATASET_MANIFEST_FILE]);
    const stale = (await this.sink.list()).filter((p) => isOwned(p) && !keep.has(p));
    await this.sink.remove(stale);
    if (stale.length)
      this.notes.push(`removed ${count(stale.length, 'file')} of an earlier run that the new manifest does not list: ${preview(stale)}`);
  }

  async abort(): Promise<void> {
    // Each file aborts its own upload; nothing else to undo.
  }

  async release(): Promise<void> {
    await this.lock.release().catch((err: unknown) => {
      this.notes.push(`could not release the lock (${(err as Error).message}); the next run takes it over`);
    });
  }
}
