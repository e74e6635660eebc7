/**
 * The sft config trains a real model: TRL's SFTTrainer on a tiny, randomly initialised Qwen2-VL
 * built locally (test/helpers/tiny_vlm_sft.py: no weights, tokenizer or processor downloaded),
 * on CPU, for a few steps on an overfit subset; once from the dataset folder, once from the local
 * Hub by tag. Every loss is finite and the loss goes down. Rows whose images and image
 * placeholders disagree make TRL refuse to train.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushDataset } from '../src/hub/push.ts';
import { startHubServer } from '../src/hub/server.ts';
import type { HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { testToken } from './helpers/bytes.ts';
import { repoRoot, runPython } from './helpers/python.ts';
import { copySampleConversion } from './helpers/sample-cache.ts';

const TOKEN = testToken();
const REPO = 'acme/invoices-sft-train';
const STEPS = 8;

interface Run {
  rows: number;
  losses: number[];
  finite: boolean;
}
let work: string;
let hub: HubServer;
let report: { folder: Run; hub: Run; mismatch: { error: string | null } };

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'sft-train-'));
  hub = await startHubServer({ dir: path.join(work, 'hub'), tokens: [{ token: TOKEN, role: 'write' }] });
  const dir = await copySampleConversion(['--configs', 'sft', '--history', '2', '--history-frames', '1'], path.join(work, 'ds'));
  await pushDataset({ dir, repo: REPO, tag: 'v1', formats: ['parquet'], hubUrl: hub.url, token: new HubToken(TOKEN, 'HF_TOKEN') });
  // One process for both runs and the negative case: importing torch, transformers and trl is the slow part.
  const script = path.join(repoRoot, 'test', 'helpers', 'tiny_vlm_sft.py');
  report = await runPython(
    `import runpy, sys; sys.argv = [${JSON.stringify(script)}, *sys.argv[1:]]; runpy.run_path(sys.argv[0], run_name="__main__")`,
    {
      args: ['--folder', dir, '--hub', REPO, '--revision', 'v1', '--steps', String(STEPS)],
      env: {
        HF_ENDPOINT: hub.url,
        HF_HUB_OFFLINE: '0',
        HF_DATASETS_OFFLINE: '0',
        HF_HOME: path.join(work, 'hf-home'),
        HF_TOKEN: TOKEN,
        CUDA_VISIBLE_DEVICES: '',
      },
      timeoutMs: 900_000,
    },
  );
}, 900_000);

afterAll(async () => {
  await hub?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function expectLearning(run: Run): void {
  expect(run.losses).toHaveLength(STEPS);
  expect(run.finite).toBe(true);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // Overfitting four rows: the last steps' loss is clearly below the first steps'.
  expect(mean(run.losses.slice(-3))).toBeLessThan(0.95 * mean(run.losses.slice(0, 3)));
  expect(run.losses.at(-1)!).toBeLessThan(run.losses[0]!);
}

describe('SFTTrainer on the sft config', () => {
  it('trains from the dataset folder: finite losses that go down', () => {
    expect(report.folder.rows).toBeGreaterThan(0);
    expectLearning(report.folder);
  });

  it('trains from the local Hub by tag (v1): the same rows, the same losses', () => {
    expect(report.hub.rows).toBe(report.folder.rows);
    expectLearning(report.hub);
    // Same data, same seeds: the same run.
    expect(report.hub.losses).toEqual(report.folder.losses);
  });

  it('refuses rows whose images and image placeholders disagree', () => {
    expect(report.mismatch.error).toMatch(/Number of images provided \(\d+\) does not match number of image placeholders \(\d+\)/);
  });
});
