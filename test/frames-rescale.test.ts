import { describe, expect, it } from 'vitest';
import type { Action } from '../src/export/step.ts';
import { rescaleAction, scalePosition } from '../src/frames/rescale.ts';

const half = { w: 720, h: 450 };

describe('rescaleAction', () => {
  it('maps points by pixel centre, rounds and clamps into the image', () => {
    expect(scalePosition(612, 0.5)).toBe(306);
    expect(scalePosition(0, 0.5)).toBe(0);
    expect(scalePosition(1439, 0.5, 720)).toBe(719);
    expect(scalePosition(5000, 0.5, 720)).toBe(719);
    expect(scalePosition(-3, 0.5, 720)).toBe(0);
    expect(scalePosition(1000, 0.375, 720)).toBe(375);
    expect(rescaleAction({ type: 'click', x: 612, y: 388, target: { role: 'button', name: 'Approve' } }, 0.5, 0.5, half)).toEqual({
      type: 'click',
      x: 306,
      y: 194,
      target: { role: 'button', name: 'Approve' },
    });
  });

  it('rescales drag endpoints and paths of arrays and objects, keeping extra elements', () => {
    const drag: Action = {
      type: 'drag',
      x: 100,
      y: 100,
      from: { x: 100, y: 100 },
      to: { x: 1400, y: 880 },
      path: [[100, 100, 0], [700, 500, 16], [1400, 880, 32]],
      points: [{ x: 10, y: 20 }, { x: 30, y: 40, t: 5 }],
    };
    expect(rescaleAction(drag, 0.5, 0.5, half)).toEqual({
      type: 'drag',
      x: 50,
      y: 50,
      from: { x: 50, y: 50 },
      to: { x: 700, y: 440 },
      path: [[50, 50, 0], [350, 250, 16], [700, 440, 32]],
      points: [{ x: 5, y: 10 }, { x: 15, y: 20, t: 5 }],
    });
  });

  it('rescales target boxes (array and object forms) as edges and lengths, inside the image', () => {
    const a: Action = { type: 'click', x: 650, y: 400, target: { role: 'button', name: 'Go', bbox: [600, 380, 120, 40] } };
    expect(rescaleAction(a, 0.5, 0.5, half)['target']).toEqual({ role: 'button', name: 'Go', bbox: [300, 190, 60, 20] });
    const b: Action = { type: 'click', bbox: { x: 1400, y: 10, width: 100, height: 30 } };
    expect(rescaleAction(b, 0.5, 0.5, half)['bbox']).toEqual({ x: 700, y: 5, width: 20, height: 15 });
    const c: Action = { type: 'click', target: { bbox: { x: 10, y: 10, w: 20, h: 20 } } };
    expect(rescaleAction(c, 2, 2)['target']).toEqual({ bbox: { x: 20, y: 20, w: 40, h: 40 } });
  });

  it('scales x and y independently (viewport aspect differs from the stored image)', () => {
    expect(rescaleAction({ type: 'click', x: 100, y: 100 }, 0.5, 0.25, half)).toEqual({ type: 'click', x: 50, y: 25 });
  });

  it('leaves scroll deltas, masked and null values, and other fields alone', () => {
    const scroll: Action = { type: 'scroll', x: 720, y: 450, dx: 0, dy: 480, text: '[masked]' };
    expect(rescaleAction(scroll, 0.5, 0.5, half)).toEqual({ type: 'scroll', x: 360, y: 225, dx: 0, dy: 480, text: '[masked]' });
    const masked: Action = { type: 'click', x: null, y: '[masked]' as never, to: null };
    expect(rescaleAction(masked, 0.5, 0.5, half)).toEqual(masked);
  });

  it('does not mutate its input, and returns the source action unchanged at scale 1', () => {
    const a: Action = { type: 'drag', x: 10.4, y: 3, to: { x: 20, y: 30 }, path: [[1, 2]] };
    const copy = structuredClone(a);
    rescaleAction(a, 0.5, 0.5, half);
    expect(a).toEqual(copy);
    expect(rescaleAction(a, 1, 1, half)).toBe(a);
  });
});
