import { describe, expect, it } from 'vitest';
import type { Action, Frame, Step } from '../src/export/step.ts';
import { InputError, UsageError } from '../src/errors.ts';
import { featuresToDict, featuresToYamlList, huggingfaceMetadata } from '../src/hf/features.ts';
import { KNOWN_ACTION_TYPES, KNOWN_OUTCOMES, LabelVocab, pinLabels } from '../src/hf/labels.ts';
import { fromStepsRow, observeLabels, stepsFeatures, toStepsRow } from '../src/hf/steps-schema.ts';
import type { PreparedStep } from '../src/hf/steps-schema.ts';
import { runPython } from './helpers/python.ts';

function step(over: Partial<Step> & { action: Action }): Step {
  return {
    session_id: 'ses_A',
    t_ms: 1000,
    frame: { image_url: 's3://vendor/frames/a.webp', viewport: { w: 1280, h: 800 }, dom: null, accessibility_tree: null },
    context: { workflow: 'process_invoice', prior_action: null, outcome: 'success' },
    extra: {},
    image: { ref: 'frames/a.webp', ext: 'webp', read: async () => new Uint8Array() },
    origin: { file: 'data/a.jsonl', line: 1 },
    ...over,
  };
}
function prepared(s: Step, action = s.action, prior = s.context.prior_action): PreparedStep {
  return {
    step: s,
    action,
    prior_action: prior,
    image: { bytes: new Uint8Array([1, 2, 3]), ext: 'webp', width: 640, height: 400, path: 'ses_A_000001000.webp' },
  };
}
/** The source row as the reader saw it (what fromStepsRow must give back). */
function sourceRow(s: Step, action = s.action, prior = s.context.prior_action): unknown {
  return { session_id: s.session_id, t_ms: s.t_ms, frame: s.frame, action, context: { ...s.context, prior_action: prior }, ...s.extra };
}

const shapes: Action[] = [
  { type: 'click', target: { role: 'button', name: 'Approve', bbox: [10, 20, 30, 40] }, x: 320, y: 200 },
  { type: 'double_click', target: { role: 'row', name: 'INV-1' }, x: 1, y: 399 },
  { type: 'input_text', target: { role: 'textbox', name: 'Amount', bbox: [1, 2, 3, 4], checked: true }, x: 5, y: 6, text: '[masked]' },
  { type: 'key', key: 'Enter', modifiers: ['Control', 'Shift'] },
  { type: 'scroll', x: 100, y: 100, dx: 0, dy: -120.5 },
  {
    type: 'drag',
    x: 10,
    y: 10,
    to: { x: 200, y: 300 },
    path: [
      [10, 10],
      [100, 150],
      [200, 300],
    ],
  },
  { type: 'drag', x: 10.25, y: 10, to: { x: 200.5, y: 300, pressure: 0.3 } },
  { type: 'drag', x: 1, y: 1, to: {} },
  { type: 'navigate', url: 'https://app.example/invoices?page=2' },
  { type: 'zoom', factor: 1.5, x: null, target: 'canvas', key: 12, modifiers: [1] },
  { type: 'wait', duration_ms: 500, target: { bbox: [1.5, 2, 3, 4], role: null } },
  { type: 'input_text', field: 'amount', value: '[masked]' },
  { type: 'input_text', text: 'a', value: 'a' },
  { type: 'input_text', text: 'a', value: 'b' },
  { type: 'input_text', value: 7 },
  { type: 'select', text: 'EUR', value: 'EUR' },
];

describe('steps schema', () => {
  it('maps each action shape to typed columns and rebuilds the source row exactly', () => {
    const labels = new LabelVocab();
    for (const [i, a] of shapes.entries()) {
      const prior = i > 0 ? shapes[i - 1]! : null;
      const s = step({
        t_ms: 1000 + i,
        action: a,
        frame: {
          image_url: 'u',
          viewport: { w: 1280, h: 800, dpr: 2 } as Frame['viewport'],
          dom: i % 2 ? { tag: 'div', children: [] } : '<div>x</div>',
          accessibility_tree: i % 3 ? 'tree' : null,
          scroll_y: 5,
        },
        context: {
          workflow: 'wf',
          prior_action: prior,
          outcome: i === 3 ? 'timeout' : 'success',
          actor: { kind: 'human', id: 7 },
          tags: ['a', 'b'],
          path: 'invoices/approve',
          started_at: '2026-01-02T03:04:05Z',
          attempt: 2,
        },
        extra: { vendor_row_id: i, nested: { a: [1, null] } },
      });
      const row = toStepsRow(prepared(s), i, labels);
      expect(row.step).toBe(i);
      expect(row.action.type).toBe(labels.actionTypes.list.indexOf(a.type));
      expect(fromStepsRow(JSON.parse(JSON.stringify(row, (_k, v) => (v instanceof Uint8Array ? null : v))), labels.toJSON())).toEqual(
        sourceRow(s),
      );
    }
    expect(labels.appended()).toEqual({ action_type: ['zoom'], outcome: ['timeout'] });
  });

  it('fills typed columns: coordinates, x_norm against the stored image, target, drag end, scroll delta', () => {
    const labels = new LabelVocab();
    const click = toStepsRow(prepared(step({ action: shapes[0]! })), 0, labels).action;
    expect(click).toMatchObject({
      type: 0,
      x: 320,
      y: 200,
      target: { role: 'button', name: 'Approve', bbox: [10, 20, 30, 40] },
      args: '{}',
    });
    expect(click.x_norm).toBe(Math.fround(320 / 640));
    expect(click.y_norm).toBe(Math.fround(200 / 400));
    const scroll = toStepsRow(prepared(step({ action: shapes[4]! })), 0, labels).action;
    expect(scroll).toMatchObject({ dx: 0, dy: -120, args: '{"dy":-120.5}' }); // rounded column, exact value kept
    const drag = toStepsRow(prepared(step({ action: shapes[5]! })), 0, labels).action;
    expect(drag).toMatchObject({ to_x: 200, to_y: 300, args: '{"path":[[10,10],[100,150],[200,300]]}' });
    const key = toStepsRow(prepared(step({ action: shapes[3]! })), 0, labels).action;
    expect(key).toMatchObject({ key: 'Enter', modifiers: ['Control', 'Shift'], x: null, x_norm: null, target: null });
  });

  it("puts the vendor's typed value (input_text `value`) in action.text and prior_action.text", () => {
    const labels = new LabelVocab();
    const typed = { type: 'input_text', field: 'amount', value: '[masked]' };
    const row = toStepsRow(
      prepared(step({ action: typed, context: { workflow: 'wf', prior_action: typed, outcome: 'success' } })),
      1,
      labels,
    );
    for (const a of [row.action, row.prior_action!]) {
      expect(a.text).toBe('[masked]');
      expect(JSON.parse(a.args)).toEqual({ field: 'amount', value: '[masked]' });
    }
    // Other types keep `value` out of the text column (a select's value is an option, not typed text).
    expect(toStepsRow(prepared(step({ action: { type: 'select', value: 'EUR' } })), 0, labels).action.text).toBeNull();
  });

  it('moves context fields to columns and unknown fields to extra; dom is JSON text', () => {
    const s = step({
      action: shapes[0]!,
      frame: { image_url: 'u', viewport: { w: 1280, h: 800 }, dom: '<p>', accessibility_tree: 'tree' },
      context: {
        workflow: 'wf',
        prior_action: shapes[1]!,
        outcome: 'error',
        actor: { kind: 'model' },
        tags: ['x'],
        started_at: '2026-01-01T00:00:00Z',
      },
      extra: { foo: 1 },
    });
    const row = toStepsRow(prepared(s), 1, new LabelVocab());
    expect(row).toMatchObject({
      workflow: 'wf',
      outcome: 1,
      actor_kind: 'model',
      tags: ['x'],
      path: null,
      started_at: Date.UTC(2026, 0, 1),
      dom: '"<p>"',
      accessibility_tree: 'tree',
      viewport: { w: 1280, h: 800 },
    });
    expect(JSON.parse(row.extra)).toEqual({ foo: 1, frame: { image_url: 'u' } });
    expect(row.prior_action?.type).toBe(1);
  });

  it('rejects an action without a string type, naming the row', () => {
    const s = step({ action: { type: 3 } as unknown as Action });
    expect(() => toStepsRow(prepared(s), 0, new LabelVocab())).toThrow(InputError);
    expect(() => toStepsRow(prepared(s), 0, new LabelVocab())).toThrow(/session ses_A t_ms 1000/);
  });
});

describe('labels', () => {
  it('keeps the known order, appends new values in order of first appearance, and freezes', () => {
    const l = new LabelVocab();
    expect(l.actionTypes.list).toEqual(KNOWN_ACTION_TYPES);
    expect(l.outcomes.list).toEqual(KNOWN_OUTCOMES);
    observeLabels(l, step({ action: { type: 'zoom' }, context: { prior_action: { type: 'pinch' }, outcome: 'timeout' } }));
    observeLabels(l, step({ action: { type: 'click' }, context: { prior_action: { type: 'zoom' }, outcome: 'success' } }));
    expect(l.actionTypes.list.slice(-2)).toEqual(['zoom', 'pinch']);
    expect(l.appended()).toEqual({ action_type: ['zoom', 'pinch'], outcome: ['timeout'] });
    l.freeze();
    expect(() => l.actionTypes.id('swipe')).toThrow(InputError);
    expect(l.actionTypes.id('pinch')).toBe(KNOWN_ACTION_TYPES.length + 1);
  });

  it('pins an earlier manifest: old ids kept, a new type appended and reported', () => {
    const earlier = new LabelVocab();
    earlier.actionTypes.observe('zoom');
    const manifest = JSON.parse(JSON.stringify({ labels: earlier.toJSON() }));
    const l = pinLabels(manifest);
    l.actionTypes.observe('swipe');
    expect(l.actionTypes.id('zoom')).toBe(earlier.actionTypes.id('zoom'));
    expect(l.actionTypes.id('swipe')).toBe(earlier.actionTypes.list.length);
    expect(l.appended().action_type).toEqual(['swipe']);
    // Also from the features JSON alone.
    const fromFeatures = pinLabels({ features: featuresToDict(stepsFeatures(earlier)) });
    expect(fromFeatures.toJSON()).toEqual(earlier.toJSON());
    expect(() => pinLabels({ nothing: 1 }, 'old/dataset-manifest.json')).toThrow(UsageError);
    expect(() => pinLabels({ nothing: 1 }, 'old/dataset-manifest.json')).toThrow(/old\/dataset-manifest.json/);
  });
});

describe('features model against datasets', () => {
  it('Hub JSON, YAML list and Arrow storage types are what datasets itself produces', async () => {
    const labels = new LabelVocab();
    labels.actionTypes.observe('zoom');
    const features = stepsFeatures(labels);
    const got = await runPython<{ roundtrip: unknown; yaml: unknown; types: Record<string, string>; meta: unknown }>(
      `
import json, sys
from datasets import Features
d = json.loads(sys.argv[1])
f = Features.from_dict(d)
print(json.dumps({"roundtrip": f.to_dict(), "yaml": f._to_yaml_list(), "types": {k: str(t) for k, t in zip(f.arrow_schema.names, f.arrow_schema.types)},
                  "meta": json.loads(f.arrow_schema.metadata[b"huggingface"])}))
`,
      { args: [JSON.stringify(featuresToDict(features))] },
    );
    expect(got.roundtrip).toEqual(featuresToDict(features));
    expect(got.yaml).toEqual(featuresToYamlList(features));
    expect(got.meta).toEqual(JSON.parse(huggingfaceMetadata(features)));
    expect(got.types.image).toBe('struct<bytes: binary, path: string>');
    expect(got.types.outcome).toBe('int64');
    expect(got.types.action).toContain('type: int64');
    expect(got.types.action).toContain('bbox: list<item: int32>');
    expect(got.types.t_ms).toBe('int64');
    expect(got.types.step).toBe('int32');
  });
});
