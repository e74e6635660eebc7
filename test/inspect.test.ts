import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { inspectExport } from '../src/export/inspect.ts';
import { makeJsonlExport, runCli, writeManifest } from './export-fixtures.ts';

let root: string;
beforeAll(async () => {
  root = await makeJsonlExport();
});

describe('inspectExport', () => {
  it('counts rows, sessions, frames, actions, label spreads and viewports, and checks the manifest', async () => {
    const r = await inspectExport(root);
    expect(r).toMatchObject({
      rows: 6,
      sessions: 2,
      frames: 6,
      actions: 6,
      workflows: { process_invoice: 6 },
      outcomes: { error: 3, success: 3 },
      actor_kinds: { human: 3, model: 3 },
      action_types: { click: 2, input_text: 1, key: 2, scroll: 1 },
      viewports: { '1440x900': 3, '1920x1080': 3 },
      image_formats: { webp: 6 },
      frames_missing: 0,
      frames_unreadable: 0,
      consistent: true,
    });
    expect(r.manifest).toEqual([
      { field: 'rows', manifest: 6, actual: 6, ok: true },
      { field: 'frames', manifest: 6, actual: 6, ok: true },
      { field: 'actions', manifest: 6, actual: 6, ok: true },
      { field: 'shards', manifest: 1, actual: 1, ok: true },
    ]);
  });

  it('reports frames that are missing or not images, naming the step', async () => {
    const bad = await makeJsonlExport();
    await rm(path.join(bad, 'frames/ses_A/001.webp'));
    await writeFile(path.join(bad, 'frames/ses_B/002.webp'), 'not an image');
    const r = await inspectExport(bad);
    expect(r.frames_missing).toBe(1);
    expect(r.frames_unreadable).toBe(1);
    expect(r.frame_problems.map((p) => [p.problem, p.step])).toEqual([
      ['missing', 'session ses_A t_ms 1250'],
      ['unreadable', 'session ses_B t_ms 2250'],
    ]);
    expect(r.manifest_matches).toBe(true); // counts match; the frames are what is wrong
    expect(r.consistent).toBe(false);
  });
});

describe('nusomi-hf inspect', () => {
  it('prints an aligned human report and exits 0 on a consistent export', async () => {
    const r = await runCli(['inspect', root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^rows {10}6$/m);
    expect(r.stdout).toMatch(/^sessions {6}2$/m);
    expect(r.stdout).toMatch(/^viewport {6}1440x900 3 · 1920x1080 3$/m);
    expect(r.stdout).toMatch(/^ {14}rows {5}6 {9}6 {9}ok$/m);
    expect(r.stdout).toMatch(/^consistent {4}yes$/m);
  });

  it('--json prints one JSON object; a manifest claiming more rows exits 1 and names the count', async () => {
    const over = await makeJsonlExport({ manifest: { rows: 7 } });
    const r = await runCli(['inspect', '--json', over]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.consistent).toBe(false);
    expect(report.manifest.find((c: { field: string }) => c.field === 'rows')).toEqual({
      field: 'rows',
      manifest: 7,
      actual: 6,
      ok: false,
    });
    expect(report.manifest.filter((c: { ok: boolean }) => !c.ok)).toHaveLength(1);
    expect(r.stderr).toBe('nusomi-hf: manifest rows is 7 but the export has 6\n');
  });

  it('exits 1 when a frame is unreadable, without a stack trace', async () => {
    const bad = await makeJsonlExport();
    await writeFile(
      path.join(bad, 'frames/ses_A/000.webp'),
      new Uint8Array(
        await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } })
          .png()
          .toBuffer(),
      ).subarray(0, 20),
    );
    const r = await runCli(['inspect', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('1 frame not readable as an image');
    // "consistent" never stands beside exit 1.
    expect(r.stdout).toMatch(
      /^consistent {4}no \(1 frame not readable as an image or over the frame limits; first: data\/part-00000\.jsonl: session ses_A t_ms 250: .*\)$/m,
    );
    expect(r.stdout).toMatch(
      /unreadable +data\/part-00000\.jsonl: session ses_A t_ms 250: frame frames\/ses_A\/000\.webp is not a readable image/,
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('bad input is one error line naming the file and row, exit 1, no stack trace', async () => {
    const bad = await makeJsonlExport();
    await writeManifest(bad, { rows: '12' });
    let r = await runCli(['inspect', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('nusomi-hf: error: manifest.json: field "rows": expected a non-negative integer, got "12"\n');
    r = await runCli(['inspect', path.join(bad, 'nope')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`nusomi-hf: error: ${path.join(bad, 'nope')}: does not exist\n`);
  });

  it('reports every bad line (the first 20 shown, all counted) instead of stopping at the first', async () => {
    const bad = await makeJsonlExport();
    const file = path.join(bad, 'data/part-00000.jsonl');
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    // Lines 2 and 4 broken, and 25 more bad lines at the end: 27 bad rows, the good ones still counted.
    lines[1] = '{"session_id": "ses_A"';
    lines[3] = '[1, 2]';
    for (let i = 0; i < 25; i++) lines.push('not json');
    await writeFile(file, lines.join('\n') + '\n');
    const r = await runCli(['inspect', '--json', bad]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.bad_rows).toBe(27);
    expect(report.row_problems).toHaveLength(20);
    expect(report.row_problems[0]).toMatch(/^data\/part-00000\.jsonl: line 2: not a JSON object/);
    expect(report.row_problems[1]).toMatch(/^data\/part-00000\.jsonl: line 4: /);
    expect(report.consistent).toBe(false);
    expect(r.stderr).toContain('nusomi-hf: 27 rows not readable; first: data/part-00000.jsonl: line 2: ');
    const human = await runCli(['inspect', bad]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^row problems \(first 20 of 27\)$/m);
    expect(human.stdout).toMatch(/^consistent {4}no \(/m);
    expect(human.stdout).not.toMatch(/^consistent {4}yes/m);
    expect(human.stderr).not.toMatch(/^\s+at /m);
  });
});
