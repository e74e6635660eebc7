import { readFile, rm, truncate, writeFile, appendFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.ts';
import { parseManifest } from '../src/export/manifest.ts';
import { openExport } from '../src/export/read.ts';
import {
  collect,
  fixtureRows,
  makeColumnarExport,
  makeJsonlExport,
  makeWebDatasetExport,
  tarBytes,
  tempDir,
  writeManifest,
} from './export-fixtures.ts';
import type { TarMember } from './export-fixtures.ts';

/** Reads the whole export; resolves with the InputError it raised (fails if none, or another error). */
async function readError(root: string): Promise<InputError> {
  try {
    await collect((await openExport(root)).steps());
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError, read the whole export without one');
}

let jsonlRoot: string;
beforeAll(async () => {
  jsonlRoot = await makeJsonlExport();
});

describe('manifest.json', () => {
  it('a missing manifest is an error naming its path', async () => {
    const root = await makeJsonlExport();
    await rm(path.join(root, 'manifest.json'));
    const err = await readError(root);
    expect(err.message).toContain(path.join(root, 'manifest.json'));
    expect(err.message).toMatch(/no manifest\.json/);
  });

  it('a field of the wrong type is one clear error naming the field', () => {
    const good = {
      export_id: 'e',
      workflow: 'w',
      format: 'jsonl',
      rows: 1,
      shards: 1,
      shard_size_bytes: 1,
      frames: 1,
      actions: 1,
      filter_summary: '',
      destination: '',
      created_at: 'x',
    };
    const bytes = (o: object) => new TextEncoder().encode(JSON.stringify(o));
    expect(() => parseManifest(bytes({ ...good, rows: '12' }))).toThrow(
      'manifest.json: field "rows": expected a non-negative integer, got "12"',
    );
    expect(() => parseManifest(bytes({ ...good, format: 'csv' }))).toThrow(
      'manifest.json: field "format": expected one of parquet, jsonl, arrow, webdataset, got "csv"',
    );
    const { destination: _d, ...noDest } = good;
    expect(() => parseManifest(bytes(noDest))).toThrow(
      'manifest.json: field "destination": expected a string, got nothing (field missing)',
    );
    expect(() => parseManifest(bytes({ ...good, files: [{ bytes: 3 }] }))).toThrow(/field "files\[0\]": expected a "path" or a "url"/);
    expect(() => parseManifest(new TextEncoder().encode('{"rows": 184_312}'))).toThrow(/^manifest\.json: not valid JSON/);
    expect(() => parseManifest(bytes([1]))).toThrow('manifest.json: expected a JSON object, got an array');
    const m = parseManifest(bytes({ ...good, extra_field: { a: [1] }, files: [{ path: 'data/a.jsonl', bytes: 3 }] }));
    expect(m.raw.extra_field).toEqual({ a: [1] });
    expect(m.files).toEqual([{ path: 'data/a.jsonl', bytes: 3 }]);
  });

  it('manifest.files wins over listing, and a listed file that is missing is an error', async () => {
    const root = await makeJsonlExport({ shards: 2 });
    await writeManifest(root, { rows: 6, frames: 6, actions: 6, shards: 1, files: [{ path: 'data/part-00001.jsonl' }] });
    const reader = await openExport(root);
    expect(reader.files.map((f) => f.path)).toEqual(['data/part-00001.jsonl']);
    expect((await collect(reader.steps())).map((s) => s.session_id)).toEqual(['ses_B', 'ses_B', 'ses_B']);
    await writeManifest(root, { files: [{ path: 'data/part-00001.jsonl' }, { path: 'data/gone.jsonl' }] });
    await expect(openExport(root)).rejects.toThrow('manifest.json: files[1] names data/gone.jsonl, which does not exist');
  });
});

describe('rows', () => {
  it('a jsonl line that is not JSON names the file and line', async () => {
    const root = await makeJsonlExport();
    const file = path.join(root, 'data/part-00000.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n');
    lines[1] = '{"session_id": "ses_A", "t_ms": 1250, "frame": {';
    await writeFile(file, lines.join('\n'));
    const err = await readError(root);
    expect(err.message).toMatch(/^data\/part-00000\.jsonl: line 2: not a JSON object \(/);
    expect(err.where).toEqual({ file: 'data/part-00000.jsonl', row: 'line 2' });
  });

  it('rows out of (session_id, t_ms) order name the file, line and both keys', async () => {
    const rows = fixtureRows();
    [rows[1], rows[2]] = [rows[2]!, rows[1]!];
    const err = await readError(await makeJsonlExport({ rows }));
    expect(err.message).toBe(
      'data/part-00000.jsonl: line 3: session ses_A t_ms 1250 comes after session ses_A t_ms 2250; rows must be ordered by (session_id, t_ms)',
    );
  });

  it('order is checked across files, and a repeated (session_id, t_ms) is an error', async () => {
    const rows = fixtureRows();
    const swapped = [...rows.slice(3), ...rows.slice(0, 3)];
    const err = await readError(await makeJsonlExport({ rows: swapped, shards: 2 }));
    expect(err.message).toBe(
      'data/part-00001.jsonl: line 1: session ses_A t_ms 250 comes after session ses_B t_ms 2250; rows must be ordered by (session_id, t_ms)',
    );
    const dup = [...rows.slice(0, 2), { ...rows[2]!, t_ms: rows[1]!.t_ms }, ...rows.slice(3)];
    const err2 = await readError(await makeJsonlExport({ rows: dup }));
    expect(err2.message).toBe(
      'data/part-00000.jsonl: line 3: session ses_A t_ms 1250 appears twice; each (session_id, t_ms) must be unique',
    );
  });

  it('a row missing a required field names the field', async () => {
    const rows = fixtureRows();
    rows[4] = { ...rows[4]!, action: { target: 'x' } };
    const err = await readError(await makeJsonlExport({ rows }));
    expect(err.message).toBe('data/part-00000.jsonl: line 5: field "action": expected an object with a string "type", got {"target":"x"}');
  });

  it("with onError 'skip', bad rows are skipped and counted by reason", async () => {
    const root = await makeJsonlExport();
    const file = path.join(root, 'data/part-00000.jsonl');
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    lines.splice(2, 0, 'not json');
    lines.splice(5, 0, lines[0]!); // ses_A t_ms 250 again, right after ses_B t_ms 250
    await writeFile(file, lines.join('\n') + '\n');
    const seen: string[] = [];
    const reader = await openExport(root, {
      onError: (e) => {
        seen.push(e.message);
        return 'skip';
      },
    });
    const steps = await collect(reader.steps());
    expect(steps).toHaveLength(6);
    expect(reader.skipped.count).toBe(2);
    expect(seen[0]).toMatch(/^data\/part-00000\.jsonl: line 3: not a JSON object/);
    expect(seen[1]).toBe(
      'data/part-00000.jsonl: line 6: session ses_A t_ms 250 comes after session ses_B t_ms 250; rows must be ordered by (session_id, t_ms)',
    );
    expect([...reader.skipped.reasons.values()]).toEqual([1, 1]);
  });
});

describe('frames', () => {
  it('a frame URL that resolves to nothing fails on image.read(), naming the step and the frame', async () => {
    const root = await makeJsonlExport();
    await rm(path.join(root, 'frames/ses_B/001.webp'));
    const steps = await collect((await openExport(root)).steps());
    await expect(steps[3]!.image.read()).resolves.toBeInstanceOf(Uint8Array);
    const err = await steps[4]!.image.read().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /^data\/part-00000\.jsonl: session ses_B t_ms 1250: frame frames\/ses_B\/001\.webp cannot be read: .*no such file/,
    );
  });

  it('a file:// frame URL is refused (it could copy any local file), and ../ cannot escape the root', async () => {
    const rows = fixtureRows();
    const outside = path.join(jsonlRoot, 'frames/ses_A/000.webp');
    rows[0] = { ...rows[0]!, frame: { ...(rows[0]!.frame as object), image_url: `file://${outside}` } };
    rows[1] = { ...rows[1]!, frame: { ...(rows[1]!.frame as object), image_url: '../escape.webp' } };
    const root = await makeJsonlExport({ rows, frames: 'none' });
    const steps = await collect((await openExport(root)).steps());
    await expect(steps[0]!.image.read()).rejects.toThrow(
      /^data\/part-00000\.jsonl: session ses_A t_ms \d+: frame file:\/\/.*000\.webp cannot be read: it is refused: file:\/\/ URLs could read any file of this machine/,
    );
    await expect(steps[1]!.image.read()).rejects.toThrow(
      /session ses_A t_ms 1250: frame \.\.\/escape\.webp cannot be read: .*escapes the export root/,
    );
  });
});

describe('hostile archives and files', () => {
  async function wdsWith(members: TarMember[]): Promise<string> {
    const root = await tempDir();
    await writeFile(path.join(root, 'a.tar'), await tarBytes(members));
    await writeManifest(root, { format: 'webdataset' });
    return root;
  }
  const row = JSON.stringify(fixtureRows()[0]);

  it('a truncated tar names the file', async () => {
    const root = await makeWebDatasetExport(jsonlRoot);
    const tar = path.join(root, 'shards/shard-000001.tar');
    await truncate(tar, Math.floor((await stat(tar)).size / 3));
    const err = await readError(root);
    expect(err.message).toMatch(/^shards\/shard-000001\.tar: not a readable tar archive.*truncated/);
  });

  it('members named ../x or /etc/x are refused, naming the member', async () => {
    let err = await readError(await wdsWith([{ name: '../x.json', body: row }]));
    expect(err.message).toBe(
      'a.tar: member ../x.json: member name climbs out of the archive with ".."; members must be relative paths inside the archive',
    );
    err = await readError(await wdsWith([{ name: '/etc/x.json', body: row }]));
    expect(err.message).toBe('a.tar: member /etc/x.json: absolute member name; members must be relative paths inside the archive');
  });

  it('symlink and hard-link members are refused, naming the member', async () => {
    let err = await readError(await wdsWith([{ name: 'k.webp', type: 'symlink', linkname: '/etc/passwd' }]));
    expect(err.message).toBe('a.tar: member k.webp: member is a symbolic link (to /etc/passwd); only regular files are allowed');
    err = await readError(
      await wdsWith([
        { name: 'k.json', body: row },
        { name: 'k.webp', type: 'link', linkname: 'k.json' },
      ]),
    );
    expect(err.message).toBe('a.tar: member k.webp: member is a hard link (to k.json); only regular files are allowed');
  });

  it('a parquet file with a broken footer names the file', async () => {
    const root = await makeColumnarExport(jsonlRoot, { format: 'parquet', nesting: 'struct' });
    const file = path.join(root, 'data/part-00000.parquet');
    const size = (await stat(file)).size;
    await truncate(file, size - 6); // drops "PAR1" and part of the footer length
    await appendFile(file, 'garbag');
    const err = await readError(root);
    expect(err.message).toMatch(/^data\/part-00000\.parquet: not a readable Parquet file: bad or missing footer \(/);
  });

  it('arrow garbage names the file', async () => {
    const root = await tempDir();
    await writeFile(path.join(root, 'x.arrow'), 'this is not arrow at all, just text that goes on for a while');
    await writeManifest(root, { format: 'arrow' });
    const err = await readError(root);
    expect(err.message).toMatch(/^x\.arrow: not a readable Arrow IPC file or stream/);
  });
});
