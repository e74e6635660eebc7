import { beforeAll, describe, expect, it } from 'vitest';
import { openExport } from '../src/export/read.ts';
import { collect, comparable, makeJsonlExport, makeWebDatasetExport } from './export-fixtures.ts';

let jsonlRoot: string;
let expected: Record<string, unknown>[];
beforeAll(async () => {
  jsonlRoot = await makeJsonlExport();
  expected = await Promise.all((await collect((await openExport(jsonlRoot)).steps())).map(comparable));
});

describe('webdataset export', () => {
  it('reads {key}.webp + {key}.json members to the same steps as jsonl, frame bytes from the tar', async () => {
    const root = await makeWebDatasetExport(jsonlRoot);
    const reader = await openExport(root);
    expect(reader.files.map((f) => f.path)).toEqual(['shards/shard-000000.tar', 'shards/shard-000001.tar']);
    const steps = await collect(reader.steps());
    expect(steps[0]!.origin).toEqual({ file: 'shards/shard-000000.tar', member: 'ses_A_000000250' });
    expect(steps[0]!.image.ref).toBe('embedded:shards/shard-000000.tar#ses_A_000000250.webp');
    expect(await Promise.all(steps.map(comparable))).toEqual(expected);
  });

  it('takes rows from the .jsonl sidecar when a sample has no .json member (the sidecar is not a data file)', async () => {
    const root = await makeWebDatasetExport(jsonlRoot, { sidecar: true });
    const reader = await openExport(root);
    expect(reader.files).toHaveLength(2);
    expect(await Promise.all((await collect(reader.steps())).map(comparable))).toEqual(expected);
  });
});
