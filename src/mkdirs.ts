/**
 * `mkdir -p` that always ends. Node 20's `mkdir(dir, { recursive: true })` retries forever where
 * mkdir answers ENOENT although the parent exists (e.g. under /proc), so `--out /proc/x` hung.
 * Here each level is created at most twice; any other failure is thrown with its path.
 */
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Create `dir` and its missing parents, each with `mode` (before the umask) when given. An existing
 * folder (or file: the next open says so) is fine.
 */
export async function mkdirs(dir: string, mode?: number): Promise<void> {
  try {
    await mkdir(dir, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    await mkdirs(parent, mode);
    try {
      await mkdir(dir, mode);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}

/** The synchronous form of `mkdirs`. */
export function mkdirsSync(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    const parent = path.dirname(dir);
    if (code !== 'ENOENT' || parent === dir) throw err;
    mkdirsSync(parent);
    try {
      mkdirSync(dir);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST') throw again;
    }
  }
}
