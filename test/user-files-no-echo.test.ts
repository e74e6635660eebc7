/**
 * Files a user names on the command line are untrusted input too: a broken `--labels-from`,
 * `--split-sessions` or `--exclude-sessions` file, or a dataset whose `dataset-manifest.json` does
 * not parse, is one line naming the file (exit 1, or 2 for a usage file), never its bytes and never
 * an internal error (before, `--labels-from` printed the text and exited 70).
 */
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { sampleConversion } from './helpers/sample-cache.ts';

const SECRET = 'sk_live_USER_FILE_7777';
const SAMPLE = 'samples/jsonl';
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'nusomi-userfiles-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Broken JSON holding the secret: an object for the labels and split files, a list for exclusions. */
async function bad(name: string, open = '{"x": '): Promise<string> {
  const file = path.join(tmp, name);
  await writeFile(file, `${open}${SECRET}\n`);
  return file;
}

describe('files named on the command line', () => {
  it.each([
    ['--labels-from', 1, '{"x": '],
    ['--split-sessions', 2, '{"x": '],
    ['--exclude-sessions', 2, '["ses_1", '],
  ] as const)(
    'a broken %s file: one line naming it, no bytes of it',
    async (flag, code, open) => {
      const file = await bad(`${flag.slice(2)}.json`, open);
      const r = await runCli(['convert', SAMPLE, '-o', path.join(tmp, `out-${flag.slice(2)}`), flag, file]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^nusomi-hf: error: .*${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    },
    60_000,
  );

  it('a dataset whose dataset-manifest.json does not parse: push and loaders name it, quote nothing', async () => {
    const ds = path.join(tmp, 'ds');
    await cp(await sampleConversion([]), ds, { recursive: true });
    await writeFile(path.join(ds, 'dataset-manifest.json'), `{"format_version": ${SECRET}`);
    for (const args of [
      ['push', ds, '--repo', 'acme/x', '--dry-run'],
      ['loaders', ds, '-o', path.join(tmp, 'loaders-out')],
    ]) {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      expect(r.stderr).toContain('dataset-manifest.json');
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
  }, 120_000);
});
