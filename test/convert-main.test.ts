/**
 * The README's main job: `npm run main` exactly as package.json defines it converts the bundled
 * sample in every format, then pushes it to a local Hub stored under out/hub; the folder loads with
 * datasets, and so does the Hub repo at the tag it printed (served again from out/hub).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { SPLIT3_ROWS, sha256, tempDir } from './convert-fixtures.ts';
import { repoRoot, runPython } from './helpers/python.ts';
import { startHubServer } from '../src/hub/server.ts';

function npmRunMain(): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'main'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('npm run main', () => {
  it('inspects the sample, converts it in every format to a git-ignored folder and pushes it to a local Hub; both load with datasets', async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.main).toBe('tsx scripts/main-job.ts');
    const job = await readFile(path.join(repoRoot, 'scripts/main-job.ts'), 'utf8');
    const outArg = /const OUT = '([^']+)'/.exec(job)?.[1];
    const hubDir = /const HUB_DIR = '([^']+)'/.exec(job)?.[1];
    expect(job).toContain("formats: ['parquet', 'arrow', 'jsonl', 'webdataset']");
    expect(outArg).toBeDefined();
    expect(hubDir).toBeDefined();
    expect(await readFile(path.join(repoRoot, '.gitignore'), 'utf8')).toMatch(new RegExp(`^/?${outArg!.split('/')[0]}/?$`, 'm'));

    const run = await npmRunMain();
    expect(run.code, run.stderr).toBe(0);
    // First the inspect report of the sample (issue 2's main job), consistent with its manifest.
    expect(run.stdout).toMatch(/^export\s+samples\/jsonl\b/m);
    expect(run.stdout).toMatch(/^rows\s+77$/m);
    expect(run.stdout).toMatch(/^sessions\s+8$/m);
    expect(run.stdout).toContain(`to ${outArg}`);
    expect(run.stdout).toContain(`load_dataset("${outArg}")`);
    // The HTML report of the dataset, with its path printed.
    const reportArg = /const REPORT = '([^']+)'/.exec(job)?.[1];
    expect(reportArg).toBeDefined();
    expect(run.stdout).toMatch(new RegExp(`^report of ${outArg} \\(\\d+ frames sampled, [\\d.]+ MB\\): ${reportArg}/index\\.html$`, 'm'));
    expect(await readFile(path.join(repoRoot, reportArg!, 'index.html'), 'utf8')).toContain('assets/report.js');
    const pushed = /pushed to the local Hub \(([^)]+)\): (\S+) (?:commit|unchanged at) ([0-9a-f]{40}), tag (\S+);/.exec(run.stdout);
    expect(pushed, run.stdout).not.toBeNull();
    expect(pushed![1]).toBe(hubDir);

    // The Hub the job wrote to, served again from its folder: the tag loads with datasets.
    const hub = await startHubServer({ dir: path.join(repoRoot, hubDir!), port: 0 });
    try {
      const fromHub = await runPython<Record<string, number>>(
        `
import json, sys, datasets
print(json.dumps({k: len(v) for k, v in datasets.load_dataset(sys.argv[1], revision=sys.argv[2]).items()}))
`,
        {
          args: [pushed![2]!, pushed![4]!],
          env: { HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: '0', HF_DATASETS_OFFLINE: '0', HF_HOME: path.join(await tempDir(), 'hf-home') },
        },
      );
      expect(fromHub).toEqual(SPLIT3_ROWS);
    } finally {
      await hub.stop();
    }

    const out = path.join(repoRoot, outArg!);
    const manifest = JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
    expect(manifest.formats).toEqual(['parquet', 'arrow', 'jsonl', 'webdataset']);
    expect(Object.fromEntries(Object.entries(manifest.splits).map(([k, v]) => [k, v.rows]))).toEqual(SPLIT3_ROWS);
    for (const f of manifest.files) expect(sha256(new Uint8Array(await readFile(path.join(out, f.path)))), f.path).toBe(f.sha256);
    for (const fmt of manifest.formats)
      expect(
        manifest.files.some((f) => f.format === fmt && f.rows !== null),
        fmt,
      ).toBe(true);

    const got = await runPython<Record<string, Record<string, number>>>(
      `
import json, sys, datasets
print(json.dumps({
    'readme': {k: len(v) for k, v in datasets.load_dataset(sys.argv[1]).items()},
    'disk': {k: len(v) for k, v in datasets.load_from_disk(sys.argv[1] + '/arrow').items()},
}))
`,
      { args: [outArg!], env: { HF_HOME: path.join(await tempDir(), 'hf-home') } },
    );
    expect(got.readme).toEqual(SPLIT3_ROWS);
    expect(got.disk).toEqual(SPLIT3_ROWS);
  });
});
