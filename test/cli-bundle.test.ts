/**
 * The bundle bin/ prefers (dist/cli, scripts/build.mjs) must behave as the sources: same bytes for
 * the same convert, and the module-relative paths it keeps (package.json version, loader
 * templates) still resolve from dist/cli.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'nusomi-bundle-'));
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts/build.mjs')], { cwd: repoRoot });
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function filesOf(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else
        out[path.relative(dir, p)] = createHash('sha256')
          .update(await readFile(p))
          .digest('hex');
    }
  };
  await walk(dir);
  return out;
}

describe('CLI bundle (dist/cli)', () => {
  it('converts the sample to the same bytes as the TypeScript sources, in every format', async () => {
    const args = ['convert', path.join(repoRoot, 'samples/jsonl'), '--formats', 'parquet,arrow,jsonl,webdataset', '--sidecar', 'mp'];
    execFileSync(process.execPath, [path.join(repoRoot, 'dist/cli/main.js'), ...args, '--out', path.join(tmp, 'bundle')], {
      cwd: repoRoot,
      stdio: 'pipe',
    });
    execFileSync(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), ...args, '--out', path.join(tmp, 'sources')],
      { cwd: repoRoot, stdio: 'pipe' },
    );
    const a = await filesOf(path.join(tmp, 'bundle'));
    const b = await filesOf(path.join(tmp, 'sources'));
    expect(Object.keys(a).length).toBeGreaterThan(20);
    expect(a).toEqual(b);
    // The manifest names the generator version read from package.json next to the modules.
    const manifest = JSON.parse(await readFile(path.join(tmp, 'bundle/dataset-manifest.json'), 'utf8')) as {
      generator: { version: string };
    };
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(manifest.generator.version).toBe(pkg.version);
  });

  it('generates the loaders from the templates folder', async () => {
    const out = path.join(tmp, 'loaders');
    execFileSync(process.execPath, [path.join(repoRoot, 'dist/cli/main.js'), 'loaders', path.join(tmp, 'bundle'), '--out', out], {
      cwd: repoRoot,
      stdio: 'pipe',
    });
    const files = Object.keys(await filesOf(out));
    expect(files.some((f) => f.endsWith('.py'))).toBe(true);
  });

  it('starts every worker thread from its bundled module (file reader, sha256, frame encode, frame check)', async () => {
    const workers = (await readdir(path.join(repoRoot, 'dist/cli'))).filter((f) => f.endsWith('.worker.js')).sort();
    expect(workers).toEqual(['encode.worker.js', 'frame-decode.worker.js', 'frame-reader.worker.js', 'hash.worker.js']);
    const out = path.join(tmp, 'reencoded');
    const cli = (...args: string[]) =>
      execFileSync(process.execPath, [path.join(repoRoot, 'dist/cli/main.js'), ...args], { cwd: repoRoot, stdio: 'pipe' }).toString();
    cli('convert', path.join(repoRoot, 'samples/jsonl'), '--formats', 'parquet', '--max-side', '200', '--out', out);
    expect(cli('validate', out, '--decode', 'full')).toMatch(/no findings/);
  });
});
