/**
 * convert checks the export manifest's counts as `inspect` does: a difference is a warning on
 * stderr, in the card and in dataset-manifest.json; `--strict` makes it exit 1 before writing.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { SAMPLE, convertOk, runCli, tempDir } from './convert-fixtures.ts';

let work: string;
let sampleManifest: Record<string, unknown>;

beforeAll(async () => {
  work = await tempDir();
  sampleManifest = JSON.parse(await readFile(path.join(SAMPLE, 'manifest.json'), 'utf8')) as Record<string, unknown>;
});

/** The jsonl sample with manifest fields replaced. */
async function sampleWith(name: string, fields: Record<string, unknown>): Promise<string> {
  const dir = path.join(work, name);
  await cp(SAMPLE, dir, { recursive: true });
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...sampleManifest, ...fields }, null, 2));
  return dir;
}

async function manifestOf(out: string): Promise<DatasetManifest> {
  return JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
}

const ARGS = ['--formats', 'parquet', '--split', 'train=1'];

describe('convert: the export manifest counts', () => {
  it('matching counts are recorded as consistent, and --strict passes', async () => {
    const out = path.join(work, 'ok');
    const run = await convertOk(SAMPLE, out, [...ARGS, '--strict']);
    expect(run.stderr).not.toContain('warning');
    const m = await manifestOf(out);
    expect(m.source_counts).toEqual({
      consistent: true,
      checks: [
        { field: 'rows', manifest: 77, actual: 77, ok: true },
        { field: 'frames', manifest: 77, actual: 77, ok: true },
        { field: 'actions', manifest: 77, actual: 77, ok: true },
        { field: 'shards', manifest: 2, actual: 2, ok: true },
      ],
    });
    expect(await readFile(path.join(out, 'README.md'), 'utf8')).toContain(
      '- export manifest counts match what was read (rows 77, frames 77, actions 77, shards 2)',
    );
  });

  it('a difference is a warning on stderr, in the card and in the manifest; sessions are checked when the manifest has them', async () => {
    const exp = await sampleWith('more', { rows: 82, frames: 80, sessions: 9, shards: 3 });
    const out = path.join(work, 'more-out');
    const run = await convertOk(exp, out, ARGS);
    const want = [
      'manifest rows is 82 but the export has 77',
      'manifest sessions is 9 but the export has 8',
      'manifest frames is 80 but the export has 77',
      'manifest shards is 3 but the export has 2',
    ];
    for (const w of want) expect(run.stderr).toContain(`nusomi-hf: warning: export ${w}\n`);
    const m = await manifestOf(out);
    expect(m.source_counts!.consistent).toBe(false);
    expect(m.source_counts!.checks.filter((c) => !c.ok).map((c) => c.field)).toEqual(['rows', 'sessions', 'frames', 'shards']);
    expect(await readFile(path.join(out, 'README.md'), 'utf8')).toContain(
      `- **warning**: the export manifest's counts differ from what was read: ${want.join('; ')}`,
    );
  });

  it('with --strict a difference exits 1 on one line naming the manifest, and writes nothing', async () => {
    const exp = await sampleWith('strict', { rows: 82 });
    const out = path.join(work, 'strict-out');
    const r = await runCli(['convert', exp, '--out', out, ...ARGS, '--strict']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^nusomi-hf: .*manifest\.json: manifest rows is 82 but the export has 77 \(convert --strict stops/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(path.join(out, 'dataset-manifest.json'))).toBe(false);
  });
});
