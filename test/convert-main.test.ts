/**
 * The README's main job: `npm run main` exactly as package.json defines it converts the bundled
 * sample in every format; the folder it names loads with datasets.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { SPLIT3_ROWS, sha256, tempDir } from './convert-fixtures.ts';
import { repoRoot, runPython } from './helpers/python.ts';

function npmRunMain(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'main'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('npm run main', () => {
  it('converts the sample to parquet, arrow, jsonl and webdataset in a git-ignored folder that datasets loads', async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const script = pkg.scripts.main!;
    const outArg = /--out\s+(\S+)/.exec(script)?.[1];
    expect(script).toMatch(/ convert samples\//);
    expect(script).toContain('--formats parquet,arrow,jsonl,webdataset');
    expect(outArg).toBeDefined();
    expect(await readFile(path.join(repoRoot, '.gitignore'), 'utf8')).toMatch(new RegExp(`^/?${outArg!.split('/')[0]}/?$`, 'm'));

    const run = await npmRunMain();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`to ${outArg}`);
    expect(run.stdout).toContain(`load_dataset("${outArg}")`);

    const out = path.join(repoRoot, outArg!);
    const manifest = JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
    expect(manifest.formats).toEqual(['parquet', 'arrow', 'jsonl', 'webdataset']);
    expect(Object.fromEntries(Object.entries(manifest.splits).map(([k, v]) => [k, v.rows]))).toEqual(SPLIT3_ROWS);
    for (const f of manifest.files) expect(sha256(new Uint8Array(await readFile(path.join(out, f.path)))), f.path).toBe(f.sha256);
    for (const fmt of manifest.formats) expect(manifest.files.some((f) => f.format === fmt && f.rows !== null), fmt).toBe(true);

    const got = await runPython<Record<string, Record<string, number>>>(`
import json, sys, datasets
print(json.dumps({
    'readme': {k: len(v) for k, v in datasets.load_dataset(sys.argv[1]).items()},
    'disk': {k: len(v) for k, v in datasets.load_from_disk(sys.argv[1] + '/arrow').items()},
}))
`, { args: [outArg!], env: { HF_HOME: path.join(await tempDir(), 'hf-home') } });
    expect(got.readme).toEqual(SPLIT3_ROWS);
    expect(got.disk).toEqual(SPLIT3_ROWS);
  });
});
