/**
 * validate says clean only after checking a whole thing (src/validate/completeness.ts): each
 * incomplete or empty target fails with exit 1 and its named check — an empty folder, a folder of
 * nothing it knows, a missing path, an empty or missing s3:// and az:// prefix (moto_server,
 * Azurite), a folder an interrupted convert left without dataset-manifest.json, an unlisted data
 * file, counts in the manifest that disagree with the rows read, and files cut short whose size
 * and sha256 were re-entered in the manifest.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3ClientFor } from '../src/source/s3.ts';
import { validate } from '../src/validate/validate.ts';
import { exitCodeOf } from '../src/validate/report.ts';
import type { ValidationReport } from '../src/validate/report.ts';
import { convert } from '../src/convert/convert.ts';
import { ustarHeader } from '../src/write/tar.ts';
import { runCli, spawnCli } from './helpers/cli.ts';
import type { CliRun } from './helpers/cli.ts';
import { repoRoot } from './helpers/python.ts';
import { startAzurite, startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

/** The CLI as a child (async: moto and Azurite are our children and log to pipes). */
const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCli(args, env);

/** `validate --json` through the CLI (cloud targets, exit codes): exit 1, one report, no stack trace. */
async function cliFailsWith(target: string, env: Record<string, string> = {}): Promise<ValidationReport> {
  const r = await cli(['validate', target, '--json'], env);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.code, r.stdout + r.stderr).toBe(1);
  return JSON.parse(r.stdout) as ValidationReport;
}

/** validate in this process (quicker than a child), failing as the CLI's exit code would say. */
async function failsWith(target: string): Promise<ValidationReport> {
  const rep = await validate([target], { threads: 2 });
  expect(exitCodeOf(rep, false), JSON.stringify(rep.checks)).toBe(1);
  return rep;
}

const ids = (r: ValidationReport) => r.checks.map((c) => c.id);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let tmp: string;
let clean: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-complete-'));
  clean = path.join(tmp, 'clean');
  await convert({
    input: path.join(repoRoot, 'samples/jsonl'),
    out: clean,
    formats: ['parquet', 'arrow', 'jsonl', 'webdataset'],
    split: { split: 'train=0.6,validation=0.2,test=0.2', seed: '1' },
    filters: {},
    frames: {},
    wds: {},
    onError: 'stop',
  });
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function copy(name: string): Promise<string> {
  const dir = path.join(tmp, name);
  await cp(clean, dir, { recursive: true });
  return dir;
}

interface ManifestJson {
  splits: Record<string, { rows: number }>;
  files: Array<{ path: string; rows: number | null; bytes: number; sha256: string }>;
}
const readManifest = async (dir: string) => JSON.parse(await readFile(path.join(dir, 'dataset-manifest.json'), 'utf8')) as ManifestJson;
const writeManifest = (dir: string, m: ManifestJson) =>
  writeFile(path.join(dir, 'dataset-manifest.json'), JSON.stringify(m, null, 2) + '\n');

/** Re-enter a file's size and sha256 (and optionally rows) in the manifest, as a careless or hostile edit would. */
async function reseal(dir: string, rel: string, rows?: number): Promise<void> {
  const m = await readManifest(dir);
  const bytes = new Uint8Array(await readFile(path.join(dir, rel)));
  const f = m.files.find((x) => x.path === rel)!;
  f.bytes = bytes.length;
  f.sha256 = sha256(bytes);
  if (rows !== undefined) f.rows = rows;
  await writeManifest(dir, m);
}

describe('validate: targets with nothing to check', () => {
  it('an empty folder, a folder of unknown files and a missing path each fail with their check', async () => {
    const empty = path.join(tmp, 'empty');
    await mkdir(empty);
    expect(ids(await cliFailsWith(empty))).toEqual(['target.empty']);
    const junk = path.join(tmp, 'junk');
    await mkdir(path.join(junk, 'notes'), { recursive: true });
    await writeFile(path.join(junk, 'notes', 'readme.txt'), 'hello');
    await writeFile(path.join(junk, '.hidden.parquet'), 'not counted');
    expect(ids(await failsWith(junk))).toEqual(['target.unrecognised']);
    // Files named one by one: none a data file, or data files without a row.
    expect(ids(await failsWith(path.join(junk, 'notes', 'readme.txt')))).toEqual(['target.unrecognised']);
    await writeFile(path.join(junk, 'empty.tar'), new Uint8Array(1024));
    await writeFile(path.join(junk, 'empty.jsonl'), '\n');
    expect(ids(await failsWith(path.join(junk, 'empty.tar')))).toEqual(['target.empty']);
    expect(ids(await validate([path.join(junk, 'empty.tar'), path.join(junk, 'empty.jsonl')]))).toEqual(['target.empty']);
    const rep = await failsWith(path.join(tmp, 'no-such-dir'));
    expect(ids(rep)).toEqual(['target.not_found']);
    expect(rep.checks[0]!.examples[0]!.message).toContain('does not exist');
  }, 60_000);
});

describe('validate: cloud prefixes with nothing under them', () => {
  let moto: RunningService;
  let azurite: RunningService & { connectionString: string };
  beforeAll(async () => {
    [moto, azurite] = await Promise.all([startMoto(), startAzurite()]);
  }, 180_000);
  afterAll(async () => {
    await Promise.all([moto?.stop(), azurite?.stop()]);
  });

  it('s3://: a missing bucket is not found, an empty prefix is empty, a prefix of unknown files is unrecognised', async () => {
    const s3 = s3ClientFor(moto.env);
    await s3.send(new CreateBucketCommand({ Bucket: 'datasets' }));
    await s3.send(new PutObjectCommand({ Bucket: 'datasets', Key: 'other/x.txt', Body: 'x' }));
    expect(ids(await cliFailsWith('s3://no-such-bucket/v1/', moto.env))).toEqual(['target.not_found']);
    expect(ids(await cliFailsWith('s3://datasets/v1/', moto.env))).toEqual(['target.empty']);
    expect(ids(await cliFailsWith('s3://datasets/other/', moto.env))).toEqual(['target.unrecognised']);
  }, 120_000);

  it('az://: a missing container is not found, an empty prefix is empty', async () => {
    const svc = BlobServiceClient.fromConnectionString(azurite.connectionString);
    await svc.getContainerClient('datasets').create();
    expect(ids(await cliFailsWith('az://no-such-container/v1/', azurite.env))).toEqual(['target.not_found']);
    expect(ids(await cliFailsWith('az://datasets/v1/', azurite.env))).toEqual(['target.empty']);
  }, 120_000);
});

describe('validate: a dataset must be whole', () => {
  it('the clean dataset is clean, with every format counted once', async () => {
    const rep = await validate([clean], { threads: 2 });
    expect(rep.checks).toEqual([]);
    expect(rep.stats.rows).toBe(77);
    expect(Object.keys(rep.stats.by_format)).toEqual(['parquet', 'arrow', 'jsonl', 'webdataset']);
  });

  it('a folder an interrupted convert left (no dataset-manifest.json, a shard missing) fails', async () => {
    const dir = await copy('interrupted');
    await rm(path.join(dir, 'dataset-manifest.json'));
    await rm(path.join(dir, 'README.md'));
    await rm(path.join(dir, 'webdataset/test-000000.tar'));
    const rep = await failsWith(dir);
    expect(ids(rep)).toEqual(['dataset.manifest_missing']);
    // Its files were still checked (and say nothing more).
    expect(rep.stats.by_format.parquet!.rows).toBe(77);
  });

  it('a real convert killed part-way leaves a folder validate fails', async () => {
    const out = path.join(tmp, 'killed');
    const child = spawnCli(['convert', 'samples/jsonl', '--out', out, '--formats', 'parquet,webdataset', '--shard-samples', '1'], {
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // A local convert builds beside --out (`.killed.nusomi-new-*`) and renames it in when complete:
    // killed once the first shard is under its final name in that build folder.
    const deadline = Date.now() + 60_000;
    let build: string | undefined;
    while (Date.now() < deadline && !build) {
      for (const d of await readdir(tmp)) {
        if (!d.startsWith('.killed.nusomi-new-')) continue;
        const shards = await readdir(path.join(tmp, d, 'webdataset')).catch(() => [] as string[]);
        if (shards.some((f) => /^train-\d+\.tar$/.test(f))) build = path.join(tmp, d);
      }
      if (!build) await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGKILL');
    await exited;
    expect(build, 'the kill landed before the first shard').toBeDefined();
    // Nothing under the final name, and the half-built folder it left is not clean.
    expect(ids(await failsWith(out))).toEqual(['target.not_found']);
    expect(await readdir(build!).then((f) => f.includes('dataset-manifest.json'))).toBe(false);
    const rep = await failsWith(build!);
    expect(ids(rep)).toContain('dataset.manifest_missing');
  }, 90_000);

  it('a data file present but not listed in the manifest fails', async () => {
    const dir = await copy('unlisted');
    await cp(path.join(dir, 'data/train-00000-of-00001.parquet'), path.join(dir, 'data/train-00001-of-00002.parquet'));
    await cp(path.join(dir, 'webdataset/test-000000.tar'), path.join(dir, 'webdataset/test-000001.tar'));
    const rep = await failsWith(dir);
    expect(ids(rep)).toEqual(['dataset.file_unlisted']);
    expect(rep.checks[0]!.examples.map((e) => e.file)).toEqual(['data/train-00001-of-00002.parquet', 'webdataset/test-000001.tar']);
  });

  it('manifest splits.*.rows that disagree with the rows read fail, for every format', async () => {
    const dir = await copy('splits-rows');
    const m = await readManifest(dir);
    m.splits.train!.rows += 1;
    await writeManifest(dir, m);
    const rep = await failsWith(dir);
    expect(ids(rep)).toEqual(['dataset.row_count_mismatch']);
    expect(rep.checks[0]!.examples.map((e) => e.message.split(':')[0])).toEqual([
      'arrow split train',
      'jsonl split train',
      'parquet split train',
      'webdataset split train',
    ]);
  });

  it('manifest files[].rows that disagree with the rows read fail', async () => {
    const dir = await copy('files-rows');
    const m = await readManifest(dir);
    m.files.find((f) => f.path === 'arrow/test/data-00000-of-00001.arrow')!.rows! -= 2;
    await writeManifest(dir, m);
    const rep = await failsWith(dir);
    expect(ids(rep)).toEqual(['dataset.row_count_mismatch']);
    expect(rep.checks[0]!.examples).toEqual([
      {
        file: 'arrow/test/data-00000-of-00001.arrow',
        message: expect.stringMatching(/^\d+ rows read, dataset-manifest.json files\[\] says \d+$/),
      },
    ]);
  });

  it('a JSONL file cut short with its size, sha256 and rows re-entered fails against the split counts', async () => {
    const dir = await copy('jsonl-cut');
    const rel = 'jsonl/train-00000.jsonl';
    const lines = (await readFile(path.join(dir, rel), 'utf8')).split('\n').filter(Boolean);
    await writeFile(path.join(dir, rel), lines.slice(0, -5).join('\n') + '\n');
    await reseal(dir, rel, lines.length - 5);
    const rep = await failsWith(dir);
    expect(ids(rep)).toEqual(['dataset.row_count_mismatch']);
    expect(rep.checks[0]!.examples).toEqual([
      {
        file: 'dataset-manifest.json',
        message: `jsonl split train: ${lines.length - 5} rows read, splits.train.rows says ${lines.length}`,
      },
    ]);
  });

  it('a WebDataset shard cut short (a whole tar, index and manifest resealed) fails against the split counts', async () => {
    const dir = await copy('wds-cut');
    const rel = 'webdataset/train-000000.tar';
    const buf = new Uint8Array(await readFile(path.join(dir, rel)));
    // Keep the first 10 samples (20 members: .webp + .json each), re-closed with end-of-archive blocks.
    const members: Array<{ name: string; data: Uint8Array }> = [];
    for (let off = 0; members.length < 20; ) {
      const h = buf.subarray(off, off + 512);
      const name = Buffer.from(h.subarray(0, 100)).toString('latin1').replace(/\0.*$/s, '');
      const size = parseInt(Buffer.from(h.subarray(124, 136)).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
      members.push({ name, data: buf.slice(off + 512, off + 512 + size) });
      off += 512 + Math.ceil(size / 512) * 512;
    }
    const parts: Uint8Array[] = [];
    for (const m of members) parts.push(ustarHeader(m.name, m.data.length, 0), m.data, new Uint8Array((512 - (m.data.length % 512)) % 512));
    parts.push(new Uint8Array(1024));
    const cut = new Uint8Array(Buffer.concat(parts));
    await writeFile(path.join(dir, rel), cut);
    const idxRel = 'webdataset/train.index.json';
    const idx = JSON.parse(await readFile(path.join(dir, idxRel), 'utf8')) as { shardlist: Array<{ nsamples: number; filesize: number }> };
    idx.shardlist[0]!.nsamples = 10;
    idx.shardlist[0]!.filesize = cut.length;
    await writeFile(path.join(dir, idxRel), JSON.stringify(idx));
    await reseal(dir, rel, 10);
    await reseal(dir, idxRel);
    const rep = await failsWith(dir);
    expect(ids(rep)).toEqual(['dataset.row_count_mismatch']);
    expect(rep.checks[0]!.examples[0]!.message).toMatch(/^webdataset split train: 10 rows read, splits\.train\.rows says \d+$/);
  });

  it('a cut .jsonl.gz cannot be read to its end: rows.unreadable, not a crash', async () => {
    const { gzipSync } = await import('node:zlib');
    const text = await readFile(path.join(clean, 'jsonl/train-00000.jsonl'));
    const gz = gzipSync(text);
    // Beside the dataset's jsonl, so the frames its rows name resolve.
    const cut = path.join(await copy('gz'), 'jsonl/cut.jsonl.gz');
    await writeFile(cut, gz.subarray(0, gz.length >> 1));
    const rep = await failsWith(cut);
    expect(ids(rep)).toEqual(['rows.unreadable']);
    expect(rep.checks[0]!.examples[0]!.message).toMatch(/^the file cannot be read past row \d+ \(unexpected end of file\)$/);
  });

  it('an export with no rows is empty', async () => {
    const dir = path.join(tmp, 'empty-export');
    await mkdir(path.join(dir, 'data'), { recursive: true });
    const m = JSON.parse(await readFile(path.join(repoRoot, 'samples/jsonl/manifest.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, rows: 0, frames: 0, actions: 0, shards: 1 }));
    await writeFile(path.join(dir, 'data/part-00000.jsonl'), '');
    const rep = await failsWith(dir);
    expect(rep.kind).toBe('export');
    expect(ids(rep)).toEqual(['target.empty']);
  });

  it('a manifest that lists nothing is empty', async () => {
    const dir = path.join(tmp, 'lists-nothing');
    await mkdir(dir);
    await writeFile(path.join(dir, 'dataset-manifest.json'), JSON.stringify({ files: [], splits: {}, formats: [] }));
    await writeFile(path.join(dir, 'README.md'), '# empty\n');
    expect(ids(await failsWith(dir))).toEqual(['target.unrecognised']);
  });

  it('a manifest of the wrong shape is unreadable metadata, not a crash', async () => {
    const dir = await copy('bad-shape');
    await writeFile(path.join(dir, 'dataset-manifest.json'), '{"files": {}}');
    const rep = await failsWith(dir);
    expect(ids(rep)).toContain('dataset.unreadable_metadata');
  });
});
