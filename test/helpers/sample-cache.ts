/**
 * Conversions of the bundled sample (samples/jsonl), made once per test run and shared by every
 * test file that needs the same flags. Output is deterministic and holds no absolute paths, so a
 * shared conversion is byte-identical to one made in the test's own folder.
 *
 * The cache folder is made fresh by the global setup (test/helpers/global-setup.ts) and removed
 * after the run; each flag set is converted by the real CLI on first use. Test workers are separate
 * processes, so the first to ask takes a lock (an atomic mkdir) and the others wait for it.
 *
 * A cached conversion is READ-ONLY: a test that changes files takes its own copy (copySampleConversion).
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { inject } from 'vitest';
import { cliOk } from './cli.ts';
import { repoRoot } from './python.ts';

export const SAMPLE_EXPORT = path.join(repoRoot, 'samples', 'jsonl');

declare module 'vitest' {
  export interface ProvidedContext {
    sampleCacheDir: string;
  }
}

/** How long a worker waits for another worker's conversion of the same flags. */
const WAIT_LIMIT_MS = 300_000;

const building = new Map<string, Promise<string>>();

/** The folder of `nusomi-hf convert samples/jsonl --out <it> <flags>`; never write into it. */
export function sampleConversion(flags: string[]): Promise<string> {
  const key = cacheKey(flags);
  let p = building.get(key);
  if (!p) {
    p = convertOnce(key, flags);
    building.set(key, p);
  }
  return p;
}

/** A private, writable copy of the sample converted with `flags`, at `dest`. */
export async function copySampleConversion(flags: string[], dest: string): Promise<string> {
  await cp(await sampleConversion(flags), dest, { recursive: true });
  return dest;
}

function cacheKey(flags: string[]): string {
  const slug = flags
    .join('_')
    .replace(/[^\w.=-]+/g, '_')
    .slice(0, 60);
  return `${slug}-${createHash('sha256').update(JSON.stringify(flags)).digest('hex').slice(0, 12)}`;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function convertOnce(key: string, flags: string[]): Promise<string> {
  const root = inject('sampleCacheDir');
  if (!root) throw new Error('no sample cache: test/helpers/global-setup.ts did not run (full tier only)');
  const done = path.join(root, key);
  const failed = `${done}.failed`;
  const lock = `${done}.lock`;
  if (await exists(done)) return done;
  const won = await mkdir(lock).then(
    () => true,
    (e: NodeJS.ErrnoException) => {
      if (e.code === 'EEXIST') return false;
      throw e;
    },
  );
  if (won) {
    const tmp = `${done}.tmp`;
    try {
      await cliOk(['convert', SAMPLE_EXPORT, '--out', tmp, ...flags]);
      await rename(tmp, done);
    } catch (err) {
      await writeFile(failed, String(err instanceof Error ? err.message : err));
      throw err;
    }
    return done;
  }
  const deadline = Date.now() + WAIT_LIMIT_MS;
  for (;;) {
    if (await exists(done)) return done;
    if (await exists(failed))
      throw new Error(`the shared sample conversion ${key} failed in another test file:\n${await readFile(failed, 'utf8')}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for the shared sample conversion ${key} (lock ${lock})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
