/**
 * `convert --frames every-n-ms:N | keyframes` on a frame-sampled export built at test time
 * (scripts/make-samples.ts `makeFrameSampledExport`: action frames plus a frame every 400 ms between
 * actions, whose ground truth says which frames are loading panels, the page back, or the pointer
 * drifting a few pixels). Through the CLI as a child process; rows read back with `datasets`.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SampledFrame } from '../scripts/make-samples.ts';
import { makeFrameSampledExport } from '../scripts/make-samples.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { KEYFRAME_MIN_DIFFERENCE, KEYFRAME_SIDE } from '../src/select/frame-sampling.ts';
import { convertOk, runCli, tempDir } from './convert-fixtures.ts';
import { hashTree } from './helpers/bytes.ts';
import { runPython } from './helpers/python.ts';

let work: string;
let exportRoot: string;
let frames: SampledFrame[];
const key = (r: { session_id: string; t_ms: number }) => `${r.session_id}/${r.t_ms}`;

beforeAll(async () => {
  work = await tempDir('nusomi-frames-');
  exportRoot = path.join(work, 'export');
  frames = (await makeFrameSampledExport({ out: exportRoot, intervalMs: 400 })).frames;
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every row of the default (parquet) config as `datasets` loads it: split, session_id, t_ms, action type name. */
async function loadedRows(out: string): Promise<Array<{ split: string; session_id: string; t_ms: number; type: string }>> {
  return runPython(
    `
import json, sys, datasets
dd = datasets.load_dataset(sys.argv[1])
rows = []
for split, ds in dd.items():
    names = ds.features['action']['type'].names
    for r in ds.remove_columns('image'):
        rows.append({'split': split, 'session_id': r['session_id'], 't_ms': r['t_ms'], 'type': names[r['action']['type']]})
print(json.dumps(rows))
`,
    { args: [out], env: { HF_HOME: path.join(work, 'hf'), HF_DATASETS_DISABLE_PROGRESS_BARS: '1' } },
  );
}

/** Convert twice into fresh folders: the two outputs must be byte-identical. Returns the first. */
async function convertTwice(name: string, args: string[]): Promise<{ out: string; stderr: string }> {
  const a = path.join(work, `${name}-a`);
  const b = path.join(work, `${name}-b`);
  const [run] = await Promise.all([convertOk(exportRoot, a, args), convertOk(exportRoot, b, args)]);
  expect(await hashTree(b)).toEqual(await hashTree(a));
  return { out: a, stderr: run.stderr };
}

/** Rows of the JSONL output, every split. */
async function jsonlRows(out: string): Promise<Array<{ session_id: string; t_ms: number; action: { type: string } }>> {
  const dir = path.join(out, 'jsonl');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
  const text = (await Promise.all(files.map((f) => readFile(path.join(dir, f), 'utf8')))).join('');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function manifestOf(out: string): Promise<DatasetManifest> {
  return JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;
}

describe('the frame-sampled sample export', () => {
  it('has frames without an action between actions, with loading panels and near-identical runs', () => {
    const kinds = new Map<string, number>();
    for (const f of frames) kinds.set(f.kind, (kinds.get(f.kind) ?? 0) + 1);
    expect(kinds.get('action')).toBe(16);
    expect(kinds.get('loading')).toBeGreaterThanOrEqual(3);
    expect(kinds.get('settled')).toBeGreaterThanOrEqual(3);
    expect(kinds.get('idle')).toBeGreaterThanOrEqual(15);
  });
});

describe('convert --frames on a frame-sampled export', () => {
  it('all (default) keeps every frame; the manifest counts (frames and the fewer actions) match the export', async () => {
    const run = await convertOk(exportRoot, path.join(work, 'all'), ['--split', 'train=0.5,test=0.5']);
    expect(run.stderr).not.toMatch(/manifest (actions|frames|rows) is/);
    const rows = await loadedRows(path.join(work, 'all'));
    expect(rows.map(key).sort()).toEqual(frames.map(key).sort());
  }, 120_000);

  it('every-n-ms:1000 keeps every action frame, and others only 1000 ms after the last kept frame; deterministic', async () => {
    const { out } = await convertTwice('every', ['--frames', 'every-n-ms:1000', '--formats', 'jsonl']);
    const m = await manifestOf(out);
    const rows = await jsonlRows(out);
    const kept = new Set(rows.map(key));
    // The rule, stated directly on the ground truth: per session, keep a frame when it carries an
    // action, is the session's first, or comes at least 1000 ms after the last frame kept.
    const expected: string[] = [];
    let session = '';
    let last = 0;
    for (const f of frames) {
      if (f.session_id !== session || f.kind === 'action' || f.t_ms - last >= 1000) {
        expected.push(key(f));
        session = f.session_id;
        last = f.t_ms;
      }
    }
    expect([...kept].sort()).toEqual(expected.sort());
    for (const f of frames) if (f.kind === 'action') expect(kept.has(key(f)), key(f)).toBe(true);
    const sampled = rows.filter((r) => r.action.type === 'none').length;
    expect(sampled).toBeGreaterThan(0);
    expect(sampled).toBeLessThan(frames.filter((f) => f.kind !== 'action').length);
    expect(m.filtered).toEqual({ frames: frames.length - rows.length });
    expect(m.options.filter_summary).toContain('a frame every 1000 ms, plus every action frame');
  }, 180_000);

  it('keyframes keeps every action frame and every real screen change, drops the near-identical frames; deterministic', async () => {
    const { out } = await convertTwice('keyframes', ['--frames', 'keyframes', '--formats', 'parquet,jsonl']);
    const rows = await jsonlRows(out);
    const kept = new Set(rows.map(key));
    for (const f of frames) {
      if (f.kind === 'action' || f.kind === 'loading' || f.kind === 'settled') expect(kept.has(key(f)), `${f.kind} ${key(f)}`).toBe(true);
      if (f.kind === 'idle') expect(kept.has(key(f)), `idle ${key(f)}`).toBe(false);
    }
    const m = await manifestOf(out);
    expect(m.filtered.frames).toBeGreaterThanOrEqual(frames.filter((f) => f.kind === 'idle').length);
    // The card documents the rule and its threshold.
    const card = await readFile(path.join(out, 'README.md'), 'utf8');
    expect(card).toContain(`${KEYFRAME_SIDE}x${KEYFRAME_SIDE} greyscale thumbnails >= ${KEYFRAME_MIN_DIFFERENCE} grey levels`);
  }, 180_000);

  it('keyframes:T takes its own threshold: a huge one keeps only action frames and each session first frame', async () => {
    const out = path.join(work, 'keyframes-high');
    await convertOk(exportRoot, out, ['--frames', 'keyframes:200', '--formats', 'jsonl']);
    const text = await jsonlRows(out);
    const firsts = new Set<string>();
    const expected = frames.filter((f) => {
      const first = !firsts.has(f.session_id);
      firsts.add(f.session_id);
      return first || f.kind === 'action';
    });
    expect(text.map(key).sort()).toEqual(expected.map(key).sort());
  }, 120_000);

  it('episodes of a sampled convert hold the kept frames, frames without an action included, as many as actions', async () => {
    const out = path.join(work, 'episodes');
    await convertOk(exportRoot, out, ['--frames', 'every-n-ms:1000', '--configs', 'steps,episodes']);
    const got = await runPython<{
      steps: Record<string, number[]>;
      episodes: Array<{ session_id: string; t_ms: number[]; frames: number; types: string[] }>;
    }>(
      `
import json, sys, datasets
out = sys.argv[1]
steps, eps = {}, []
for split, ds in datasets.load_dataset(out).items():
    for r in ds.remove_columns('image'):
        steps.setdefault(r['session_id'], []).append(r['t_ms'])
for split, ds in datasets.load_dataset(out, 'episodes').items():
    names = ds.features['actions'].feature['type'].names
    for r in ds:
        eps.append({'session_id': r['session_id'], 't_ms': r['t_ms'], 'frames': len(r['frames']), 'types': [names[a['type']] for a in r['actions']]})
print(json.dumps({'steps': steps, 'episodes': eps}))
`,
      { args: [out], env: { HF_HOME: path.join(work, 'hf'), HF_DATASETS_DISABLE_PROGRESS_BARS: '1' } },
    );
    expect(got.episodes.map((e) => e.session_id).sort()).toEqual(Object.keys(got.steps).sort());
    for (const e of got.episodes) {
      expect(e.t_ms).toEqual(got.steps[e.session_id]);
      expect(e.frames).toBe(e.types.length);
      expect(e.types.filter((t) => t !== 'none').length).toBe(
        frames.filter((f) => f.session_id === e.session_id && f.kind === 'action').length,
      );
    }
    expect(got.episodes.some((e) => e.types.includes('none'))).toBe(true);
  }, 120_000);

  it('a bad --frames value is a one-line usage error (exit 2)', async () => {
    const bad = ['sometimes', 'every-n-ms:0', 'keyframes:x'];
    const runs = await Promise.all(bad.map((v) => runCli(['convert', exportRoot, '--out', path.join(work, 'bad'), '--frames', v])));
    runs.forEach((r, i) => {
      expect(r.code, bad[i]).toBe(2);
      // One line, plus the CLI's pointer to --help.
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, bad[i]).toHaveLength(2);
      expect(lines[0], bad[i]).toContain(`'--frames <mode>' argument '${bad[i]}' is invalid. Expected all, action-only, every-n-ms:N`);
      expect(lines[1]).toBe("(see 'nusomi-hf convert --help')");
    });
  }, 120_000);
});
