/**
 * `context.started_at` is a timestamp column (`timestamp[ms, tz=UTC]`): datasets gives a datetime,
 * the card and every schema say so, and text in any other form than the canonical one is still
 * rebuilt exactly (it stays in `extra`).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Step } from '../src/export/step.ts';
import { LabelVocab } from '../src/hf/labels.ts';
import { fromStepsRow, observeLabels, stepsFeatures, toStepsRow } from '../src/hf/steps-schema.ts';
import type { PreparedStep } from '../src/hf/steps-schema.ts';
import { isoOfMs, msOfIso } from '../src/hf/timestamps.ts';
import { SAMPLE, convertOk, tempDir } from './convert-fixtures.ts';
import { runPython } from './helpers/python.ts';

let tmp: string;
beforeAll(async () => {
  tmp = await tempDir('nusomi-ts-');
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('started_at timestamps', () => {
  it('parses ISO 8601 instants to epoch ms and prints the canonical form', () => {
    expect(msOfIso('2026-04-10T08:49:12Z')).toBe(Date.UTC(2026, 3, 10, 8, 49, 12));
    expect(msOfIso('2026-04-10T10:49:12.5+02:00')).toBe(Date.UTC(2026, 3, 10, 8, 49, 12, 500));
    expect(msOfIso('2026-04-10T08:49:12.123987Z')).toBe(Date.UTC(2026, 3, 10, 8, 49, 12, 123));
    for (const bad of ['2026-04-10', '2026-04-10T08:49:12', '2026-02-30T00:00:00Z', 'yesterday', '2026-04-10 08:49:12Z'])
      expect(msOfIso(bad), bad).toBeNull();
    expect(isoOfMs(Date.UTC(2026, 3, 10, 8, 49, 12))).toBe('2026-04-10T08:49:12Z');
    expect(isoOfMs(Date.UTC(2026, 3, 10, 8, 49, 12, 7))).toBe('2026-04-10T08:49:12.007Z');
  });

  it('fills the column from any instant; a non-canonical or non-instant text is rebuilt exactly', () => {
    const labels = new LabelVocab();
    const rows = ['2026-01-02T03:04:05Z', '2026-01-02T05:04:05+02:00', 'last tuesday', 17].map((started_at, i) => {
      const step = {
        session_id: 's',
        t_ms: i,
        frame: { viewport: { w: 10, h: 10 }, dom: null, accessibility_tree: null },
        action: { type: 'click', x: 1, y: 1 },
        context: { workflow: 'wf', prior_action: null, started_at },
        extra: {},
        origin: { file: 'f', line: i + 1 },
        image: { ref: '' },
      } as unknown as Step;
      observeLabels(labels, step);
      return step;
    });
    labels.freeze();
    const prepared = (s: Step): PreparedStep => ({
      step: s,
      action: s.action,
      prior_action: null,
      image: { bytes: new Uint8Array(1), ext: 'png', width: 10, height: 10, path: 'a.png' },
    });
    const got = rows.map((s, i) => toStepsRow(prepared(s), i, labels));
    expect(got.map((r) => r.started_at)).toEqual([Date.UTC(2026, 0, 2, 3, 4, 5), Date.UTC(2026, 0, 2, 3, 4, 5), null, null]);
    expect(JSON.parse(got[0]!.extra)).toEqual({});
    expect(JSON.parse(got[1]!.extra)).toEqual({ context: { started_at: '2026-01-02T05:04:05+02:00' } });
    got.forEach((r, i) => {
      expect(fromStepsRow(r, labels.toJSON()).context).toEqual(rows[i]!.context);
    });
    expect(stepsFeatures(labels).started_at).toEqual({ kind: 'value', dtype: 'timestamp[ms, tz=UTC]' });
  });

  it('datasets reads a timestamp[ms, tz=UTC] feature from Parquet and from save_to_disk Arrow', async () => {
    const out = path.join(tmp, 'ds');
    await convertOk(SAMPLE, out, ['--formats', 'parquet,arrow']);
    const got = await runPython<Record<string, string>>(
      `
import json, sys, datasets
a = datasets.load_dataset(sys.argv[1], split="train")
b = datasets.load_from_disk(sys.argv[1] + "/arrow")["train"]
print(json.dumps({"feature": repr(a.features["started_at"]), "disk": repr(b.features["started_at"]),
  "value": a[0]["started_at"].isoformat(), "type": type(a[0]["started_at"]).__name__, "same": a["started_at"] == b["started_at"]}))
`,
      { args: [out], env: { HF_HOME: path.join(tmp, 'hf-home') } },
    );
    expect(got).toEqual({
      feature: "Value('timestamp[ms, tz=UTC]')",
      disk: "Value('timestamp[ms, tz=UTC]')",
      value: expect.stringMatching(/^2026-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/),
      type: 'datetime',
      same: true,
    });
  }, 120_000);
});
