import { describe, expect, it } from 'vitest';
import type { Action } from '../src/export/step.ts';
import { InputError } from '../src/errors.ts';
import { COORDINATE_RULE, MAX_ACTION_DEPTH, rescaleAction, scalePosition } from '../src/frames/rescale.ts';

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
      path: [
        [100, 100, 0],
        [700, 500, 16],
        [1400, 880, 32],
      ],
      points: [
        { x: 10, y: 20 },
        { x: 30, y: 40, t: 5 },
      ],
    };
    expect(rescaleAction(drag, 0.5, 0.5, half)).toEqual({
      type: 'drag',
      x: 50,
      y: 50,
      from: { x: 50, y: 50 },
      to: { x: 700, y: 440 },
      path: [
        [50, 50, 0],
        [350, 250, 16],
        [700, 440, 32],
      ],
      points: [
        { x: 5, y: 10 },
        { x: 15, y: 20, t: 5 },
      ],
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

  it('rescales coordinates at any depth: sub-objects, arrays of objects, centers, point arrays, xyxy corners', () => {
    const a: Action = {
      type: 'drag',
      drag: { start: { x: 100, y: 200 }, end: [1400, 880], via: { point: { x: 700, y: 450 } } },
      center: [612, 388],
      targets: [
        { name: 'a', x: 10, y: 20 },
        { name: 'b', center: { x: 30, y: 40 } },
      ],
      selection: { x1: 100, y1: 100, x2: 300, y2: 500 },
      trajectory: [{ x: 2, y: 4 }, [6, 8, 99]],
    };
    expect(rescaleAction(a, 0.5, 0.5, half)).toEqual({
      type: 'drag',
      drag: { start: { x: 50, y: 100 }, end: [700, 440], via: { point: { x: 350, y: 225 } } },
      center: [306, 194],
      targets: [
        { name: 'a', x: 5, y: 10 },
        { name: 'b', center: { x: 15, y: 20 } },
      ],
      selection: { x1: 50, y1: 50, x2: 150, y2: 250 },
      trajectory: [{ x: 1, y: 2 }, [3, 4, 99]],
    });
  });

  it('rescales boxes under every box key, [x, y, w, h] and xyxy arrays and edge/size objects, nested too', () => {
    const a: Action = {
      type: 'click',
      target: { role: 'button', rect: { left: 600, top: 380, right: 720, bottom: 420 } },
      element: { bounds: [600, 380, 120, 40], box_xyxy: [600, 380, 720, 420] },
      region: { bounding_box: { x1: 0, y1: 0, x2: 1440, y2: 900 } },
      box: [
        [600, 380],
        [720, 420],
      ],
      polygon: [
        [0, 0],
        [1439, 899],
      ],
    };
    expect(rescaleAction(a, 0.5, 0.5, half)).toEqual({
      type: 'click',
      target: { role: 'button', rect: { left: 300, top: 190, right: 360, bottom: 210 } },
      element: { bounds: [300, 190, 60, 20], box_xyxy: [300, 190, 360, 210] },
      region: { bounding_box: { x1: 0, y1: 0, x2: 720, y2: 450 } },
      box: [
        [300, 190],
        [360, 210],
      ],
      polygon: [
        [0, 0],
        [719, 449],
      ],
    });
  });

  it('leaves what is not a coordinate alone at any depth: scroll offsets and deltas, viewport sizes, other numbers', () => {
    const a: Action = {
      type: 'scroll',
      x: 720,
      y: 450,
      scroll: { x: 0, y: 1200 },
      detail: { delta_x: 10, delta_y: 20, dx: 3, viewport: { w: 1440, h: 900 }, count: 3 },
      center: ['[masked]', 3],
    };
    expect(rescaleAction(a, 0.5, 0.5, half)).toEqual({ ...a, x: 360, y: 225 });
  });

  it('names the coordinate keys for the card and manifest, and bounds the walk', () => {
    expect(COORDINATE_RULE.positions).toEqual(['x', 'x1', 'x2', 'y', 'y1', 'y2']);
    expect(COORDINATE_RULE.boxes_xywh).toContain('bbox');
    expect(COORDINATE_RULE.not_coordinates).toEqual(expect.arrayContaining(['dx', 'dy', 'scroll', 'viewport']));
    let deep: Record<string, unknown> = { x: 5 };
    for (let i = 0; i < MAX_ACTION_DEPTH + 1; i++) deep = { n: deep };
    expect(() => rescaleAction({ type: 'click', deep } as Action, 0.5, 0.5, half)).toThrow(InputError);
    expect(() => rescaleAction({ type: 'click', deep } as Action, 0.5, 0.5, half)).toThrow(/nested deeper than 64 levels/);
  });
});
