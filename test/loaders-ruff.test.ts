/**
 * The loader templates and the modules rendered from them are `ruff check` clean and fully type
 * hinted: the rendered modules under ruff's defaults alone (--isolated: no config of this repo or
 * the user's), plus the annotation rules (ANN, `Any` allowed); the templates under loaders/ruff.toml.
 * ruff comes from .venv (pinned in scripts/python-requirements.lock), or NUSOMI_HF_RUFF names a ruff binary.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/python.ts';
import { SPLIT_FLAGS, convertSample, renderFor } from './loaders.fixture.ts';

const ruff = process.env.NUSOMI_HF_RUFF || path.join(repoRoot, '.venv', 'bin', 'ruff');
let work: string;
let rendered: string;

beforeAll(async () => {
  if (!existsSync(ruff))
    throw new Error(`${ruff} is missing: run "bash scripts/python-env.sh" (ruff is pinned in scripts/python-requirements.lock)`);
  work = mkdtempSync(path.join(os.tmpdir(), 'loaders-ruff-'));
  const ds = path.join(work, 'ds');
  await convertSample(ds, ['--formats', 'parquet,webdataset', ...SPLIT_FLAGS]);
  rendered = path.join(work, 'loaders');
  await renderFor({ source: ds, out: rendered });
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function check(args: string[], cwd: string): { code: number; out: string } {
  const r = spawnSync(ruff, ['check', '--no-cache', '--output-format', 'concise', ...args], { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe('ruff check', () => {
  it('the rendered modules: clean under the defaults and fully annotated', () => {
    const plain = check(['--isolated', '.'], rendered);
    expect(plain.code, plain.out).toBe(0);
    const typed = check(['--isolated', '--extend-select', 'ANN', '--ignore', 'ANN401', '.'], rendered);
    expect(typed.code, typed.out).toBe(0);
  });

  it('the templates in loaders/: clean and fully annotated', () => {
    const dir = path.join(repoRoot, 'loaders');
    const r = check(['--extend-select', 'ANN', '--ignore', 'ANN401', '.'], dir);
    expect(r.code, r.out).toBe(0);
  });
});
