/**
 * The bundled sample exports (samples/{jsonl,parquet,arrow,webdataset}, written by
 * scripts/make-samples.ts): the four formats read to the same steps, and `inspect` finds their
 * manifests consistent.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openExport } from '../src/export/read.ts';
import { repoRoot } from './helpers/python.ts';
import { collect, comparable, runCli, tempDir } from './export-fixtures.ts';

const FORMATS = ['jsonl', 'parquet', 'arrow', 'webdataset'] as const;
const sample = (f: string) => path.join(repoRoot, 'samples', f);

describe('bundled samples', () => {
  it('the four formats read to the same sequence of steps (every field, frame bytes by sha256)', async () => {
    const read: Record<string, Record<string, unknown>[]> = {};
    for (const f of FORMATS) {
      const reader = await openExport(sample(f));
      expect(reader.manifest.format).toBe(f);
      read[f] = await Promise.all((await collect(reader.steps())).map(comparable));
    }
    const jsonl = read.jsonl!;
    expect(jsonl.length).toBeGreaterThanOrEqual(30);
    expect(new Set(jsonl.map((s) => s.session_id)).size).toBeGreaterThanOrEqual(6);
    for (const f of FORMATS) expect(read[f], f).toEqual(jsonl);
  });

  for (const f of FORMATS) {
    it(`inspect --json on samples/${f} reports manifest counts that match`, async () => {
      const r = await runCli(['inspect', '--json', sample(f)]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.consistent).toBe(true);
      expect(report.frames_missing + report.frames_unreadable).toBe(0);
      for (const c of report.manifest) expect(c.ok, c.field).toBe(true);
      expect(report.rows).toBeGreaterThan(0);
    });
  }

  it('a sample whose manifest says more rows than it has: inspect exits 1 and names the count', async () => {
    const root = await tempDir();
    await cp(sample('jsonl'), root, { recursive: true });
    const m = JSON.parse(await readFile(path.join(root, 'manifest.json'), 'utf8'));
    const rows = m.rows as number;
    await writeFile(path.join(root, 'manifest.json'), JSON.stringify({ ...m, rows: rows + 5 }));
    const r = await runCli(['inspect', '--json', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`nusomi-hf: manifest rows is ${rows + 5} but the export has ${rows}\n`);
    const report = JSON.parse(r.stdout);
    expect(report.manifest.filter((c: { ok: boolean }) => !c.ok).map((c: { field: string }) => c.field)).toEqual(['rows']);
  });
});
