/**
 * The `episodes` config (`convert --configs steps,episodes`): one row per session, read back with
 * `datasets` and checked against the `default` (steps) config of the same folder: the same sessions
 * in the same splits, each session's steps in t_ms order, as many frames as actions, the very frames
 * and actions of its steps. Converted in-process (frame memory in debug mode: a frame used after its
 * release is poisoned), limits through the CLI.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPISODE_MAX_BYTES, EPISODE_MAX_FRAMES } from '../src/configs/episodes.ts';
import { convert } from '../src/convert/convert.ts';
import type { ConvertOptions } from '../src/convert/convert.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { SAMPLE, runCli, tempDir } from './convert-fixtures.ts';
import { hashTree } from './helpers/bytes.ts';
import { runPython } from './helpers/python.ts';

let work: string;

beforeAll(async () => {
  work = await tempDir('nusomi-episodes-');
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function options(out: string, configs: ConvertOptions['configs']): ConvertOptions {
  return {
    input: SAMPLE,
    out,
    formats: ['parquet'],
    configs,
    split: { split: 'train=0.6,validation=0.2,test=0.2', seed: '0' },
    filters: {},
    frames: {},
    wds: {},
    onError: 'stop',
  };
}

interface Compared {
  steps: Record<string, { rows: number; sessions: string[] }>;
  episodes: Record<
    string,
    Array<{
      session_id: string;
      num_steps: number;
      duration_ms: number;
      t_ms: number[];
      frames: string[];
      actions: unknown[];
      outcome: string;
      workflow: string;
    }>
  >;
  frameColumn: { compression: string; statistics: boolean };
  /** Per split, per session: the steps rows' t_ms, frame sha256 and action, in file order. */
  stepsBySession: Record<
    string,
    Record<string, { t_ms: number[]; frames: string[]; actions: unknown[]; outcome: string; workflow: string }>
  >;
}

/** Both configs as `datasets` loads them; frames as sha256 of their bytes. */
function loadBoth(out: string): Promise<Compared> {
  return runPython<Compared>(
    `
import hashlib, json, sys, datasets
out = sys.argv[1]
sha = lambda b: hashlib.sha256(b).hexdigest()
steps = datasets.load_dataset(out)
eps = datasets.load_dataset(out, 'episodes')
res = {'steps': {}, 'episodes': {}, 'stepsBySession': {}}
for split, ds in steps.items():
    names = ds.features['outcome'].names
    ds = ds.cast_column('image', datasets.Image(decode=False))
    by = {}
    order = []
    for r in ds:
        s = by.setdefault(r['session_id'], {'t_ms': [], 'frames': [], 'actions': [], 'outcome': names[r['outcome']], 'workflow': r['workflow']})
        if not order or order[-1] != r['session_id']:
            order.append(r['session_id'])
        s['t_ms'].append(r['t_ms'])
        s['frames'].append(sha(r['image']['bytes']))
        s['actions'].append(r['action'])
    res['steps'][split] = {'rows': len(ds), 'sessions': order}
    res['stepsBySession'][split] = by
for split, ds in eps.items():
    names = ds.features['outcome'].names
    assert type(ds.features['frames'].feature).__name__ == 'Image', ds.features['frames']
    ds = ds.cast_column('frames', datasets.List(datasets.Image(decode=False)))
    rows = []
    for r in ds:
        rows.append({'session_id': r['session_id'], 'num_steps': r['num_steps'], 'duration_ms': r['duration_ms'], 't_ms': r['t_ms'],
                     'frames': [sha(f['bytes']) for f in r['frames']], 'actions': r['actions'],
                     'outcome': names[r['outcome']], 'workflow': r['workflow']})
    res['episodes'][split] = rows
# How the frames are stored: media, so neither compressed nor summarised by statistics.
import glob, pyarrow.parquet as pq
md = pq.ParquetFile(sorted(glob.glob(out + '/episodes/*.parquet'))[0]).metadata
col = next(md.row_group(0).column(i) for i in range(md.num_columns) if md.row_group(0).column(i).path_in_schema == 'frames.list.element.bytes')
res['frameColumn'] = {'compression': col.compression, 'statistics': col.is_stats_set}
print(json.dumps(res))
`,
    { args: [out], env: { HF_HOME: path.join(work, 'hf'), HF_DATASETS_DISABLE_PROGRESS_BARS: '1' } },
  );
}

describe('convert --configs steps,episodes', () => {
  it('episodes rows hold each session steps in t_ms order, as many frames as actions, split and counted like steps', async () => {
    const out = path.join(work, 'both');
    await convert(options(out, ['episodes']));
    const got = await loadBoth(out);
    const manifest = JSON.parse(await readFile(path.join(out, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;

    expect(Object.keys(got.episodes).sort()).toEqual(Object.keys(got.steps).sort());
    const seen = new Map<string, string>();
    for (const [split, rows] of Object.entries(got.episodes)) {
      // One row per session of the split, in the steps' session order.
      expect(rows.map((r) => r.session_id)).toEqual(got.steps[split]!.sessions);
      expect(rows.length).toBe(manifest.splits[split]!.sessions);
      // The steps counted in episodes are the split's steps rows.
      expect(rows.reduce((a, r) => a + r.num_steps, 0)).toBe(got.steps[split]!.rows);
      for (const r of rows) {
        // No session in two splits.
        expect(seen.get(r.session_id), r.session_id).toBeUndefined();
        seen.set(r.session_id, split);
        const s = got.stepsBySession[split]![r.session_id]!;
        expect(r.t_ms).toEqual(s.t_ms);
        expect(r.t_ms).toEqual([...r.t_ms].sort((a, b) => a - b));
        expect(new Set(r.t_ms).size).toBe(r.t_ms.length);
        expect(r.frames.length).toBe(r.actions.length);
        expect(r.num_steps).toBe(r.frames.length);
        expect(r.frames).toEqual(s.frames);
        expect(r.actions).toEqual(s.actions);
        expect(r.duration_ms).toBe(r.t_ms[r.t_ms.length - 1]! - r.t_ms[0]!);
        expect([r.outcome, r.workflow]).toEqual([s.outcome, s.workflow]);
      }
    }
    expect(seen.size).toBe(8);
    expect(got.frameColumn).toEqual({ compression: 'UNCOMPRESSED', statistics: false });
    expect(manifest.configs?.episodes?.splits).toEqual(
      Object.fromEntries(Object.entries(manifest.splits).map(([n, s]) => [n, { rows: s.sessions }])),
    );
    // The card declares the config and says how a session's memory is bounded.
    const card = await readFile(path.join(out, 'README.md'), 'utf8');
    expect(card).toContain('config_name: episodes');
    expect(card).toContain('--episode-max-bytes');
  }, 180_000);

  it('is deterministic, and leaves the default config byte-identical', async () => {
    const a = path.join(work, 'det-a');
    const b = path.join(work, 'det-b');
    const plain = path.join(work, 'plain');
    await convert(options(a, ['episodes']));
    await convert(options(b, ['episodes']));
    await convert(options(plain, []));
    const ha = await hashTree(a);
    expect(await hashTree(b)).toEqual(ha);
    const data = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).filter(([p]) => p.startsWith('data/')));
    expect(data(ha)).toEqual(data(await hashTree(plain)));
    expect(Object.keys(ha).filter((p) => p.startsWith('episodes/')).length).toBeGreaterThan(0);
  }, 180_000);

  it('a session over --episode-max-frames or --episode-max-bytes stops convert with one line naming it (exit 1)', async () => {
    expect(EPISODE_MAX_FRAMES).toBeGreaterThan(0);
    expect(EPISODE_MAX_BYTES).toBeGreaterThan(0);
    const [frames, bytes, noConfig] = await Promise.all([
      runCli(['convert', SAMPLE, '--out', path.join(work, 'lim-f'), '--configs', 'episodes', '--episode-max-frames', '6']),
      runCli(['convert', SAMPLE, '--out', path.join(work, 'lim-b'), '--configs', 'episodes', '--episode-max-bytes', '20kb']),
      runCli(['convert', SAMPLE, '--out', path.join(work, 'lim-n'), '--episode-max-frames', '6']),
    ]);
    for (const [r, flag] of [
      [frames, '--episode-max-frames'],
      [bytes, '--episode-max-bytes'],
    ] as const) {
      expect(r.code, r.stderr).toBe(1);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/session ses_\w+ t_ms \d+/);
      expect(lines[0]).toContain(flag);
      expect(lines[0]).not.toMatch(/\n\s+at /);
    }
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('--episode-max-frames bounds the episodes config; add --configs episodes');
  }, 120_000);
});
