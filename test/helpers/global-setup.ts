/**
 * Runs once before all tests of the full tier. Checks that the real parts exist; with CI=true a
 * missing part fails the run instead of letting tests skip (house rule 3). Makes the folder of the
 * shared sample conversions (test/helpers/sample-cache.ts), fresh for each run so a code change is
 * never hidden by an old conversion, and removes it after the run.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { venvPython } from './python.ts';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (!existsSync(venvPython)) {
    throw new Error(`the Python venv is missing (${venvPython}); run "npm test", which makes it`);
  }
  const cache = await mkdtemp(path.join(tmpdir(), 'nusomi-sample-cache-'));
  project.provide('sampleCacheDir', cache);
  return () => rm(cache, { recursive: true, force: true });
}
