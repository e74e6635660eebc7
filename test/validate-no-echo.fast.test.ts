/**
 * validate never quotes the bytes of a dataset file it failed to parse: a broken `state.json`,
 * `dataset_info.json`, WebDataset index, card YAML or `dataset-manifest.json` holding a secret is
 * reported by file and position, and the secret appears in neither the report nor its JSON.
 */
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import { formatReport } from '../src/validate/report.ts';
import { validate } from '../src/validate/validate.ts';

const SECRET = 'sk_live_NEVER_ECHO_4242';

let tmp: string;
let clean: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'nusomi-noecho-'));
  clean = path.join(tmp, 'clean');
  await convert({
    input: 'samples/jsonl',
    out: clean,
    formats: ['parquet', 'arrow', 'webdataset'],
    split: { split: 'train=0.8,validation=0.2' },
    filters: {},
    frames: {},
    wds: {},
    onError: 'stop',
  });
}, 120_000);
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** A copy of the clean dataset with one file replaced by broken text that holds the secret. */
async function broken(name: string, file: string, text: string): Promise<string> {
  const dir = path.join(tmp, name);
  await cp(clean, dir, { recursive: true });
  await writeFile(path.join(dir, file), text);
  return dir;
}

describe('validate: failed parses name the file and position, never the text', () => {
  const cases: Array<[string, string, string]> = [
    ['arrow state.json', 'arrow/train/state.json', `{"_data_files": [{"filename": "${SECRET}`],
    ['arrow dataset_info.json', 'arrow/train/dataset_info.json', `{"features": ${SECRET}}`],
    ['WebDataset index', 'webdataset/train.index.json', `{"wids_version": 1, "shardlist": [${SECRET}]}`],
    ['card YAML', 'README.md', `---\ndataset_info:\n  splits: [${SECRET}: {{\n---\n`],
    ['dataset manifest', 'dataset-manifest.json', `{"format_version": 1, "files": "${SECRET}`],
  ];
  it.each(cases)(
    '%s',
    async (name, file, text) => {
      const dir = await broken(name.replace(/\W+/g, '-'), file, text);
      const rep = await validate([dir], { threads: 2 });
      const out = JSON.stringify(rep) + formatReport(rep);
      expect(rep.checks.length, out).toBeGreaterThan(0);
      expect(out).toContain(file);
      expect(out).not.toContain(SECRET);
      expect(out).not.toContain('NEVER_ECHO');
    },
    60_000,
  );

  it('the clean copy is clean (the cases fail because of the broken file)', async () => {
    expect((await readdir(clean)).sort()).toContain('dataset-manifest.json');
    const rep = await validate([clean], { threads: 2 });
    expect(rep.checks.filter((c) => c.severity === 'error')).toEqual([]);
  }, 60_000);
});
