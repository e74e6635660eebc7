import { describe, expect, it, beforeAll } from 'vitest';
import { openExport } from '../src/export/read.ts';
import { collect, comparable, makeColumnarExport, makeJsonlExport } from './export-fixtures.ts';
import type { ColumnarOptions, Nesting } from './export-fixtures.ts';

let jsonlRoot: string;
let expected: Record<string, unknown>[];

async function readAll(root: string): Promise<Record<string, unknown>[]> {
  const reader = await openExport(root);
  return Promise.all((await collect(reader.steps())).map(comparable));
}

beforeAll(async () => {
  jsonlRoot = await makeJsonlExport();
  expected = await readAll(jsonlRoot);
});

describe('jsonl export', () => {
  it('reads every field, keeps unknown fields, and resolves frames under manifest.destination', async () => {
    expect(expected).toHaveLength(6);
    const first = expected[0]!;
    expect(first).toMatchObject({
      session_id: 'ses_A',
      t_ms: 250,
      frame: { viewport: { w: 1440, h: 900 }, accessibility_tree: 'button "Approve" [0]' },
      action: { type: 'click', target: { role: 'button', name: 'Approve' }, x: 612, y: 388 },
      context: { workflow: 'process_invoice', prior_action: null, outcome: 'success', actor: { kind: 'human' } },
      extra: { vendor_note: 'note 0', big_counter: 1760000000000 },
      ext: 'webp',
    });
    expect((expected[1]!.frame as { dom: unknown }).dom).toBeNull();
    expect((expected[1]!.context as { prior_action: unknown }).prior_action).toEqual(first.action);
    expect(new Set(expected.map((s) => s.sha256)).size).toBe(6);
  });

  it('reads .jsonl.gz split over shards to the same steps, frames by relative path too', async () => {
    const gz = await makeJsonlExport({ gzip: true, shards: 3, frames: 'relative' });
    const reader = await openExport(gz);
    expect(reader.files.map((f) => f.path)).toEqual(['data/part-00000.jsonl.gz', 'data/part-00001.jsonl.gz', 'data/part-00002.jsonl.gz']);
    const got = await Promise.all((await collect(reader.steps())).map(comparable));
    // image_url differs (relative); everything else, frame bytes included, is the same.
    const strip = (r: Record<string, unknown>[]) => r.map((s) => ({ ...s, frame: { ...(s.frame as object), image_url: undefined } }));
    expect(strip(got)).toEqual(strip(expected));
  });
});

describe('columnar exports written by pyarrow read to the same steps as jsonl', () => {
  const nestings: Nesting[] = ['struct', 'json', 'mixed', 'dotted'];
  for (const format of ['parquet', 'arrow'] as const) {
    for (const nesting of nestings) {
      it(`${format}, nested values as ${nesting}`, async () => {
        const root = await makeColumnarExport(jsonlRoot, { format, nesting });
        expect(await readAll(root)).toEqual(expected);
      });
    }
  }

  for (const codec of ['snappy', 'zstd', 'gzip', 'none']) {
    it(`parquet codec ${codec}, frames embedded as frame.image_bytes`, async () => {
      const root = await makeColumnarExport(jsonlRoot, { format: 'parquet', nesting: 'struct', codec, embed: true, chunk: 4 });
      const reader = await openExport(root);
      const steps = await collect(reader.steps());
      expect(steps[0]!.image.ref).toBe('embedded:data/part-00000.parquet#row 0');
      expect(steps[0]!.frame).not.toHaveProperty('image_bytes');
      expect(await Promise.all(steps.map(comparable))).toEqual(expected);
    });
  }

  const ipc: ColumnarOptions[] = [
    { format: 'arrow', nesting: 'mixed', ipc: 'file', chunk: 1 },
    { format: 'arrow', nesting: 'json', ipc: 'stream', chunk: 4, embed: true },
  ];
  for (const o of ipc) {
    it(`arrow IPC ${o.ipc} format, batch by batch`, async () => {
      const root = await makeColumnarExport(jsonlRoot, o);
      expect(await readAll(root)).toEqual(expected);
    });
  }
});
