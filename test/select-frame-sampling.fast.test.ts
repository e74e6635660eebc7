/**
 * `--frames` sampling on Step streams: the parser, every-n-ms on timestamps, and keyframes on real
 * PNG bytes made here with sharp (a grey screen whose brightness steps are known, so the mean
 * absolute difference of the thumbnails is known too). The CLI and the sample export are tested in
 * convert-frame-sampling.test.ts.
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.ts';
import type { Action, Step } from '../src/export/step.ts';
import { emptyFilterStats, filterSteps } from '../src/select/filters.ts';
import type { FilterOptions } from '../src/select/filters.ts';
import { KEYFRAME_MIN_DIFFERENCE, MAX_FRAME_INTERVAL_MS, parseFrameSampling } from '../src/select/frame-sampling.ts';

interface Row {
  session: string;
  t: number;
  action: boolean;
  /** Grey level of the whole frame. */
  grey?: number;
  workflow?: string;
}

async function png(grey: number): Promise<Uint8Array> {
  const b = await sharp({ create: { width: 160, height: 100, channels: 3, background: { r: grey, g: grey, b: grey } } })
    .png()
    .toBuffer();
  return new Uint8Array(b);
}

async function steps(rows: Row[]): Promise<Step[]> {
  return Promise.all(
    rows.map(async (r, i) => {
      const bytes = await png(r.grey ?? 128);
      return {
        session_id: r.session,
        t_ms: r.t,
        frame: { viewport: { w: 160, h: 100 }, dom: null, accessibility_tree: null },
        action: (r.action ? { type: 'click', x: 1, y: 1 } : { type: 'none' }) as Action,
        context: { prior_action: null, workflow: r.workflow ?? 'w' } as Step['context'],
        extra: {},
        image: { ref: `f${i}.png`, ext: 'png', read: async () => bytes },
        origin: { file: 'data/part-0.jsonl', line: i + 1 },
      };
    }),
  );
}

async function kept(rows: Row[], opts: FilterOptions): Promise<{ kept: string[]; dropped: number }> {
  const stats = emptyFilterStats();
  const out: string[] = [];
  async function* stream() {
    yield* await steps(rows);
  }
  for await (const s of filterSteps(stream(), opts, stats)) out.push(`${s.session_id}@${s.t_ms}`);
  return { kept: out, dropped: stats.dropped.frames };
}

describe('parseFrameSampling', () => {
  it('takes the four modes and refuses anything else with a UsageError', () => {
    expect(parseFrameSampling('all')).toEqual({ mode: 'all' });
    expect(parseFrameSampling('action-only')).toEqual({ mode: 'action-only' });
    expect(parseFrameSampling('every-n-ms:100')).toEqual({ mode: 'every-n-ms', intervalMs: 100 });
    expect(parseFrameSampling(`every-n-ms:${MAX_FRAME_INTERVAL_MS}`)).toEqual({ mode: 'every-n-ms', intervalMs: MAX_FRAME_INTERVAL_MS });
    expect(parseFrameSampling('keyframes')).toEqual({ mode: 'keyframes', minDifference: KEYFRAME_MIN_DIFFERENCE });
    expect(parseFrameSampling('keyframes:2.5')).toEqual({ mode: 'keyframes', minDifference: 2.5 });
    for (const bad of [
      '',
      'every',
      'every-n-ms',
      'every-n-ms:',
      'every-n-ms:0',
      'every-n-ms:1.5',
      `every-n-ms:${MAX_FRAME_INTERVAL_MS + 1}`,
      'keyframes:0',
      'keyframes:256',
      'keyframes:-1',
      'Keyframes',
    ]) {
      expect(() => parseFrameSampling(bad), bad).toThrow(UsageError);
    }
  });
});

describe('every-n-ms', () => {
  it('keeps action frames, the first frame of each session, and frames N ms after the last kept one', async () => {
    const rows: Row[] = [
      { session: 'a', t: 0, action: false },
      { session: 'a', t: 40, action: false },
      { session: 'a', t: 100, action: false },
      { session: 'a', t: 130, action: true },
      { session: 'a', t: 200, action: false },
      { session: 'a', t: 230, action: false },
      { session: 'b', t: 210, action: false },
      { session: 'b', t: 260, action: true },
    ];
    const r = await kept(rows, { frames: 'every-n-ms:100' });
    expect(r.kept).toEqual(['a@0', 'a@100', 'a@130', 'a@230', 'b@210', 'b@260']);
    expect(r.dropped).toBe(2);
  });

  it('sees only the rows the other filters kept', async () => {
    const rows: Row[] = [
      { session: 'a', t: 0, action: true, workflow: 'x' },
      { session: 'a', t: 50, action: false, workflow: 'y' },
      { session: 'a', t: 100, action: false, workflow: 'x' },
    ];
    // With the y row gone, t=100 is 100 ms after the last kept frame.
    const r = await kept(rows, { workflow: ['x'], frames: 'every-n-ms:100' });
    expect(r.kept).toEqual(['a@0', 'a@100']);
    expect(r.dropped).toBe(0);
  });
});

describe('keyframes', () => {
  it('compares each frame with the last KEPT one: small steps add up to a keyframe, action frames are always kept', async () => {
    // Grey levels: a change of 1 is a mean absolute difference of 1 (the whole screen changes).
    const rows: Row[] = [
      { session: 'a', t: 0, action: true, grey: 100 },
      { session: 'a', t: 10, action: false, grey: 100 }, // identical: dropped
      { session: 'a', t: 20, action: false, grey: 101 }, // 1 from the kept 100: kept at T 0.5
      { session: 'a', t: 30, action: false, grey: 101 }, // dropped
      { session: 'a', t: 40, action: true, grey: 101 }, // action: kept
      { session: 'b', t: 0, action: false, grey: 50 }, // first of its session: kept
      { session: 'b', t: 10, action: false, grey: 50 }, // dropped
    ];
    const r = await kept(rows, { frames: 'keyframes:0.5' });
    expect(r.kept).toEqual(['a@0', 'a@20', 'a@40', 'b@0']);
    expect(r.dropped).toBe(3);
    // Against the last kept frame, not the previous one: each step is 1 (< 1.5) from the frame before,
    // but 102 is 2 from the kept 100.
    const drift = await kept(
      [
        { session: 'c', t: 0, action: false, grey: 100 },
        { session: 'c', t: 1, action: false, grey: 101 },
        { session: 'c', t: 2, action: false, grey: 102 },
        { session: 'c', t: 3, action: false, grey: 103 },
      ],
      { frames: 'keyframes:1.5' },
    );
    expect(drift.kept).toEqual(['c@0', 'c@2']);
  });

  it('the same frames give the same decisions on every run', async () => {
    const rows: Row[] = Array.from({ length: 12 }, (_, i) => ({ session: 's', t: i * 10, action: i % 5 === 0, grey: 100 + ((i * 7) % 4) }));
    const a = await kept(rows, { frames: 'keyframes:2' });
    const b = await kept(rows, { frames: 'keyframes:2' });
    expect(b).toEqual(a);
    expect(a.dropped).toBeGreaterThan(0);
  });
});
