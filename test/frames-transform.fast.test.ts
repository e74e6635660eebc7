import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { OutputInfo } from 'sharp';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.ts';
import type { Action, Step } from '../src/export/step.ts';
import { probeImage } from '../src/frames/probe.ts';
import { prepareFrames } from '../src/frames/transform.ts';
import type { FrameOptions, PreparedStep } from '../src/frames/transform.ts';

interface Button {
  x: number;
  y: number;
  w: number;
  h: number;
  color: [number, number, number];
}

const BACKGROUND: [number, number, number] = [240, 240, 240];
const COLORS: [number, number, number][] = [
  [230, 25, 75],
  [60, 180, 75],
  [67, 99, 216],
  [255, 225, 25],
  [245, 130, 49],
  [145, 30, 180],
  [66, 212, 244],
  [240, 50, 230],
];

/** Buttons laid out proportionally to the viewport, 2 rows of 4, each in its own solid colour. */
function buttonsFor(w: number, h: number): Button[] {
  return COLORS.map((color, i) => ({
    x: Math.round(w * (0.05 + (i % 4) * 0.23)),
    y: Math.round(h * (0.2 + Math.floor(i / 4) * 0.4)),
    w: Math.round(w * 0.12),
    h: Math.round(h * 0.06),
    color,
  }));
}

async function screen(w: number, h: number, format: 'webp' | 'png' = 'webp'): Promise<Uint8Array> {
  const layers = await Promise.all(
    buttonsFor(w, h).map(async (b) => ({
      input: await sharp({ create: { width: b.w, height: b.h, channels: 3, background: { r: b.color[0], g: b.color[1], b: b.color[2] } } })
        .png()
        .toBuffer(),
      left: b.x,
      top: b.y,
    })),
  );
  const img = sharp({
    create: { width: w, height: h, channels: 3, background: { r: BACKGROUND[0], g: BACKGROUND[1], b: BACKGROUND[2] } },
  }).composite(layers);
  return new Uint8Array(await (format === 'webp' ? img.webp({ quality: 90 }).toBuffer() : img.png().toBuffer()));
}

/** Clicks inside each button: centre and 6 px in from each corner. */
function clicksIn(b: Button): [number, number][] {
  const i = 6;
  return [
    [b.x + Math.floor(b.w / 2), b.y + Math.floor(b.h / 2)],
    [b.x + i, b.y + i],
    [b.x + b.w - 1 - i, b.y + i],
    [b.x + i, b.y + b.h - 1 - i],
    [b.x + b.w - 1 - i, b.y + b.h - 1 - i],
  ];
}

function mkStep(
  session_id: string,
  t_ms: number,
  bytes: Uint8Array,
  viewport: { w: number; h: number },
  action: Action,
  prior: Action | null = null,
): Step {
  return {
    session_id,
    t_ms,
    frame: { viewport, dom: null, accessibility_tree: null },
    action,
    context: { prior_action: prior, workflow: 'wf' },
    extra: {},
    image: { ref: `frames/${session_id}/${t_ms}.webp`, ext: 'webp', read: async () => bytes },
    origin: { file: 'data/part-0.jsonl', line: t_ms + 1 },
  };
}

async function* stream<T>(xs: T[]): AsyncIterable<T> {
  for (const x of xs) yield x;
}

async function collect(steps: Step[], opts: FrameOptions): Promise<PreparedStep[]> {
  const out: PreparedStep[] = [];
  for await (const p of prepareFrames(stream(steps), opts)) out.push(p);
  return out;
}

/** The button colour nearest to the pixel at (x, y) (background counts as a colour). */
const decoded = new Map<string, Promise<{ data: Buffer; info: OutputInfo }>>();
async function colorAt(bytes: Uint8Array, x: number, y: number): Promise<[number, number, number]> {
  // Many clicks share one frame: decode each distinct frame once.
  const key = createHash('sha256').update(bytes).digest('hex');
  if (!decoded.has(key)) decoded.set(key, sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true }));
  const { data, info } = await decoded.get(key)!;
  const o = (y * info.width + x) * info.channels;
  const px = [data[o]!, data[o + 1]!, data[o + 2]!];
  const dist = (c: [number, number, number]) => (c[0] - px[0]!) ** 2 + (c[1] - px[1]!) ** 2 + (c[2] - px[2]!) ** 2;
  return [...COLORS, BACKGROUND].reduce((best, c) => (dist(c) < dist(best) ? c : best));
}

describe('prepareFrames: resize keeps clicks on their controls', () => {
  for (const [w, h, ew, eh] of [
    [1440, 900, 720, 450],
    [1920, 1080, 720, 405],
  ] as const) {
    it(`${w}x${h} → maxSide 720 (${ew}x${eh}): the colour under every rescaled click is its button's`, async () => {
      const bytes = await screen(w, h);
      const buttons = buttonsFor(w, h);
      const steps: Step[] = [];
      let t = 0;
      buttons.forEach((b, bi) => {
        const prevButton = buttons[(bi + 1) % buttons.length]!;
        for (const [x, y] of clicksIn(b)) {
          const [px, py] = clicksIn(prevButton)[0]!;
          steps.push(mkStep('ses_a', t++, bytes, { w, h }, { type: 'click', x, y }, { type: 'click', x: px, y: py }));
        }
      });
      // Original capture: the clicks are on their buttons to begin with.
      for (const s of steps.slice(0, 5))
        expect(await colorAt(bytes, s.action['x'] as number, s.action['y'] as number)).toEqual(buttons[0]!.color);

      const out = await collect(steps, { maxSide: 720, workers: 2 });
      expect(out.length).toBe(steps.length);
      const stored = out[0]!.image.bytes;
      const probe = await probeImage(stored);
      expect(probe).toEqual({ format: 'webp', width: ew, height: eh });
      for (const [i, p] of out.entries()) {
        expect(p.image).toMatchObject({ ext: 'webp', width: ew, height: eh });
        const button = buttons[Math.floor(i / 5)]!;
        const next = buttons[(Math.floor(i / 5) + 1) % buttons.length]!;
        expect(await colorAt(p.image.bytes, p.action['x'] as number, p.action['y'] as number), `click ${i}`).toEqual(button.color);
        expect(await colorAt(p.image.bytes, p.prior_action!['x'] as number, p.prior_action!['y'] as number), `prior ${i}`).toEqual(
          next.color,
        );
        // The source step is untouched: the viewport and action stay in capture pixels.
        expect(p.step.action['x']).toBe(steps[i]!.action['x']);
      }
    });
  }
});

describe('prepareFrames: formats, passthrough, order, determinism, errors', () => {
  it('passes frames through unchanged by default (and when already within maxSide), with stable names', async () => {
    const bytes = await screen(640, 400);
    const steps = [mkStep('ses/x.1', 12480, bytes, { w: 640, h: 400 }, { type: 'click', x: 10.5, y: 20 })];
    for (const opts of [{}, { maxSide: 4000 }, { imageFormat: 'webp' as const }]) {
      const [p] = await collect(steps, opts);
      expect(Buffer.from(p!.image.bytes).equals(bytes)).toBe(true);
      expect(p!.image).toMatchObject({ ext: 'webp', width: 640, height: 400, path: 'ses-x-1-3ee19811a451_000012480.webp' });
      expect(p!.action).toBe(steps[0]!.action);
      expect(p!.prior_action).toBeNull();
    }
  });

  it('rescales to stored pixels when the stored frame is larger than the viewport (HiDPI)', async () => {
    const bytes = await screen(400, 250, 'png');
    const [p] = await collect([mkStep('s', 0, bytes, { w: 200, h: 125 }, { type: 'click', x: 100, y: 50 })], {});
    expect(p!.image).toMatchObject({ ext: 'png', width: 400, height: 250 });
    expect(p!.action).toEqual({ type: 'click', x: 201, y: 101 });
  });

  it('re-encodes to jpeg and png', async () => {
    const bytes = await screen(800, 500);
    const steps = [mkStep('s', 0, bytes, { w: 800, h: 500 }, { type: 'click', x: 1, y: 1 })];
    const [j] = await collect(steps, { imageFormat: 'jpeg', quality: 70 });
    expect(await probeImage(j!.image.bytes)).toEqual({ format: 'jpeg', width: 800, height: 500 });
    expect(j!.image).toMatchObject({ ext: 'jpg', path: 's-043a718774c5_000000000.jpg' });
    const [p] = await collect(steps, { imageFormat: 'png', maxSide: 400 });
    expect(await probeImage(p!.image.bytes)).toEqual({ format: 'png', width: 400, height: 250 });
    expect(p!.image).toMatchObject({ ext: 'png', path: 's-043a718774c5_000000000.png', width: 400, height: 250 });
  });

  it('keeps input order with parallel workers, and gives identical bytes across runs and worker counts', async () => {
    const big = await screen(900, 560);
    const small = await screen(120, 80);
    const steps: Step[] = [];
    for (let i = 0; i < 24; i++) {
      const b = i % 3 === 0 ? small : big;
      steps.push(
        mkStep(`ses_${String(Math.floor(i / 4)).padStart(2, '0')}`, i * 10, b, i % 3 === 0 ? { w: 120, h: 80 } : { w: 900, h: 560 }, {
          type: 'click',
          x: 50,
          y: 40,
        }),
      );
    }
    const opts = { maxSide: 300, imageFormat: 'webp' as const, quality: 75 };
    const a = await collect(steps, { ...opts, workers: 2 });
    expect(a.map((p) => `${p.step.session_id}@${p.step.t_ms}`)).toEqual(steps.map((s) => `${s.session_id}@${s.t_ms}`));
    expect(a.map((p) => p.image.width)).toEqual(steps.map((_, i) => (i % 3 === 0 ? 120 : 300)));
    const b = await collect(steps, { ...opts, workers: 2 });
    const c = await collect(steps, { ...opts, workers: 1 });
    for (let i = 0; i < a.length; i++) {
      expect(Buffer.from(b[i]!.image.bytes).equals(a[i]!.image.bytes)).toBe(true);
      expect(Buffer.from(c[i]!.image.bytes).equals(a[i]!.image.bytes)).toBe(true);
    }
  });

  it('stops cleanly when the consumer stops early', async () => {
    const big = await screen(900, 560);
    const steps = Array.from({ length: 12 }, (_, i) => mkStep('s', i, big, { w: 900, h: 560 }, { type: 'click', x: 1, y: 1 }));
    let n = 0;
    for await (const p of prepareFrames(stream(steps), { maxSide: 200, workers: 2 })) {
      expect(p.image.width).toBe(200);
      if (++n === 2) break;
    }
    expect(n).toBe(2);
  });

  it('a frame that cannot be decoded is an InputError naming the step and the image', async () => {
    const good = await screen(300, 200);
    const garbage = new TextEncoder().encode('this is not an image at all');
    const truncated = good.subarray(0, Math.floor(good.length / 2));
    for (const [bytes, opts] of [
      [garbage, {}],
      [garbage, { maxSide: 100 }],
      [truncated, { maxSide: 100 }],
    ] as const) {
      const steps = [
        mkStep('ok', 0, good, { w: 300, h: 200 }, { type: 'click' }),
        mkStep('bad', 7, bytes, { w: 300, h: 200 }, { type: 'click' }),
      ];
      const err = await collect(steps, opts).catch((e: unknown) => e);
      expect(err, `${bytes.length} ${JSON.stringify(opts)}`).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/^data\/part-0\.jsonl: session bad t_ms 7: cannot decode frame image frames\/bad\/7\.webp: /);
    }
  });

  it("passes the reader's own InputError through and rejects a missing viewport", async () => {
    const failing = mkStep('s', 3, new Uint8Array(), { w: 10, h: 10 }, { type: 'click' });
    failing.image = {
      ref: 'frames/gone.webp',
      ext: 'webp',
      read: async () => {
        throw new InputError('frame file is missing', { file: 'frames/gone.webp', row: 'session s t_ms 3' });
      },
    };
    await expect(collect([failing], {})).rejects.toThrow(/frames\/gone\.webp: session s t_ms 3: frame file is missing/);
    const noViewport = mkStep('s', 4, await screen(50, 50), { w: 0, h: 10 }, { type: 'click' });
    await expect(collect([noViewport], {})).rejects.toThrow(/session s t_ms 4: frame.viewport must be/);
  });

  it('rejects bad options', async () => {
    await expect(collect([], { maxSide: 0 })).rejects.toThrow(/--max-side/);
    await expect(collect([], { quality: 101 })).rejects.toThrow(/--quality/);
    await expect(collect([], { imageFormat: 'gif' as never })).rejects.toThrow(/--image-format/);
  });
});
