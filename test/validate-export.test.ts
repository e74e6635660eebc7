/**
 * validate on vendor exports (a root with manifest.json): the clean samples give zero findings; a
 * manifest that claims more rows, a deleted frame file and an unmasked e-mail are each reported
 * alone, with the check id, the file and the row/step, through the CLI's --json and exit code.
 */
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliSync } from './helpers/cli.ts';
import { repoRoot } from './helpers/python.ts';

const cli = (args: string[]) => runCliSync(args);

interface Report {
  kind: string;
  clean: boolean;
  checks: Array<{ id: string; count: number; examples: Array<{ file: string; row?: number; member?: string; message: string }> }>;
  stats: { rows: number; frames: number; masked: number };
}

function validateJson(dir: string): { status: number | null; rep: Report; out: string } {
  const r = cli(['validate', dir, '--json']);
  expect(r.stderr).not.toMatch(/Error|\n\s+at /);
  return { status: r.code, rep: JSON.parse(r.stdout) as Report, out: r.stdout };
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-export-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function copyOf(name: string, sample: 'jsonl' | 'webdataset'): Promise<string> {
  const dir = path.join(tmp, name);
  await cp(path.join(repoRoot, 'samples', sample), dir, { recursive: true });
  return dir;
}

describe('validate <export>', () => {
  it.each(['jsonl', 'webdataset'] as const)('the clean samples/%s export: zero findings, exit 0, [masked] values counted', (sample) => {
    const { status, rep } = validateJson(path.join(repoRoot, 'samples', sample));
    expect(status).toBe(0);
    expect(rep.kind).toBe('export');
    expect(rep.clean).toBe(true);
    expect(rep.checks).toEqual([]);
    expect(rep.stats.rows).toBe(77);
    expect(rep.stats.frames).toBe(77);
    expect(rep.stats.masked).toBeGreaterThan(0);
  });

  it('a manifest that says more rows than the export has is reported, naming rows', async () => {
    const dir = await copyOf('more-rows', 'webdataset');
    const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as { rows: number };
    m.rows = 80;
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
    const { status, rep } = validateJson(dir);
    expect(status).toBe(1);
    expect(rep.checks.map((c) => c.id)).toEqual(['export.manifest_count_mismatch']);
    expect(rep.checks[0]!.examples).toEqual([{ file: 'manifest.json', message: 'rows: manifest says 80, the export has 77' }]);
  });

  it('a deleted frame file is reported with the step that references it', async () => {
    const dir = await copyOf('frame-gone', 'jsonl');
    const data = path.join(dir, 'data', (await readdir(path.join(dir, 'data'))).sort()[0]!);
    const row = JSON.parse((await readFile(data, 'utf8')).split('\n')[4]!) as {
      session_id: string;
      t_ms: number;
      frame: { image_url: string };
    };
    const rel = row.frame.image_url.slice(row.frame.image_url.indexOf('frames/'));
    await rm(path.join(dir, rel));
    const { status, rep } = validateJson(dir);
    expect(status).toBe(1);
    expect(rep.checks.map((c) => c.id)).toEqual(['export.frame_missing']);
    const ex = rep.checks[0]!.examples;
    expect(ex).toHaveLength(1);
    expect(ex[0]!.message).toContain(`session ${row.session_id} t_ms ${row.t_ms}`);
    expect(ex[0]!.message).toContain(path.basename(rel));
  });

  it('an unmasked e-mail in an export field is reported with a redacted excerpt, never the address', async () => {
    const dir = await copyOf('email', 'jsonl');
    const file = path.join(dir, 'data', (await readdir(path.join(dir, 'data'))).sort()[1]!);
    const lines = (await readFile(file, 'utf8')).split('\n');
    const r = JSON.parse(lines[6]!) as { session_id: string; t_ms: number; frame: { accessibility_tree: string } };
    r.frame.accessibility_tree += '\n  textbox "Contact" value="ops.lead@vendor-mail.com"';
    lines[6] = JSON.stringify(r);
    await writeFile(file, lines.join('\n'));
    const { status, rep, out } = validateJson(dir);
    expect(status).toBe(1);
    expect(out).not.toContain('ops.lead@vendor-mail.com');
    expect(rep.checks.map((c) => c.id)).toEqual(['privacy.email']);
    const ex = rep.checks[0]!.examples;
    expect(ex).toHaveLength(1);
    expect(ex[0]).toMatchObject({ file: `data/${path.basename(file)}`, row: 6 });
    expect(ex[0]!.message).toMatch(
      new RegExp(`^session ${r.session_id} t_ms ${r.t_ms}: field accessibility_tree: ….*"Contact" value="\\[email: @\\*\\*\\*\\]"$`),
    );
  });
});
