/**
 * The card as the Hub and a user read it: the PyTorch snippet runs as pasted with workers started
 * by spawn (the default on macOS and Windows; a lambda collate_fn cannot be pickled there),
 * `license` is a Hub license identifier (checked by --license), `task_categories` is filled with
 * Hub task ids.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HUB_LICENSES, HUB_TASK_CATEGORIES, hubLicense } from '../src/hf/hub-metadata.ts';
import { SAMPLE, convertOk, runCli, tempDir } from './convert-fixtures.ts';
import { runPythonRaw } from './helpers/python.ts';

let tmp: string;
let out: string;
let card: string;

beforeAll(async () => {
  tmp = await tempDir('nusomi-card-');
  out = path.join(tmp, 'ds');
  await convertOk(SAMPLE, out, ['--license', 'Apache-2.0', '--split', 'train=0.8,validation=0.1,test=0.1']);
  card = await readFile(path.join(out, 'README.md'), 'utf8');
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function frontMatter(): Record<string, unknown> {
  return parseYaml(/^---\n([\s\S]*?)\n---\n/.exec(card)![1]!) as Record<string, unknown>;
}

describe('dataset card', () => {
  it('the PyTorch snippet runs as pasted under the spawn start method', async () => {
    const block = /### With PyTorch\n```python\n([\s\S]*?)```/.exec(card)?.[1];
    expect(block).toBeDefined();
    expect(block).not.toMatch(/collate_fn=lambda/);
    // The snippet names the repo id; here the dataset is this folder.
    const snippet = block!.replace(/load_dataset\("[^"]*"/, `load_dataset(${JSON.stringify(out)}`);
    const file = path.join(tmp, 'torch_snippet.py');
    await writeFile(file, snippet);
    const r = await runPythonRaw(
      'import multiprocessing, runpy, sys\nmultiprocessing.set_start_method("spawn")\nrunpy.run_path(sys.argv[1], run_name="__main__")\n',
      { args: [file], env: { HF_HOME: path.join(tmp, 'hf-home') } },
    );
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    // 47 train rows, batches of 32: the first batch is a list of 32 row dicts.
    // The frame as a (channels, height, width) uint8 tensor, the action type id as a Python int.
    expect(r.stdout.trim()).toMatch(/^32 \(3, \d+, \d+\) \d+$/);
  }, 180_000);

  it('declares a Hub license identifier and Hub task categories', () => {
    const yaml = frontMatter();
    expect(yaml.license).toBe('apache-2.0');
    expect(yaml.task_categories).toEqual(['image-text-to-text']);
    for (const t of yaml.task_categories as string[]) expect(HUB_TASK_CATEGORIES).toContain(t);
  });

  it('--license refuses what the Hub does not know, naming the near ones', async () => {
    const r = await runCli(['convert', SAMPLE, '-o', path.join(tmp, 'bad'), '--license', 'cc-by']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"cc-by" is not a Hub license identifier (did you mean cc-by-2.0, cc-by-2.5, cc-by-3.0, cc-by-4.0');
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(2);
    expect(hubLicense('MIT')).toEqual({ id: 'mit' });
    expect(hubLicense('apache')).toMatchObject({ error: expect.stringContaining('apache-2.0') });
    expect(Object.keys(HUB_LICENSES)).toContain('cc-by-nc-sa-4.0');
  });
});
