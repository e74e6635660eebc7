/**
 * Partitioned convert (`--plan-only`, `--partition i/N`, `--finalize`): the finished dataset is the
 * single convert's, byte for byte, for every sample export and a larger generated one, with N = 1,
 * 2, 3, locally and on s3:// (moto_server), N = 2 on az:// (Azurite); partitions run at once as
 * separate processes; a partition killed with SIGKILL is re-run alone; finalize refuses, naming the
 * missing files, while a partition has not finished; a plain convert does not run over a partitioned one.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { ConvertOptions } from '../src/convert/convert.ts';
import { finalizeConvert } from '../src/convert/finalize.ts';
import { convertPartition, planOnly } from '../src/convert/partition.ts';
import { s3ClientFor } from '../src/source/s3.ts';
import { SAMPLE, SPLIT3, convertOk, runCli, tempDir } from './convert-fixtures.ts';
import { scriptOk, spawnCli } from './helpers/cli.ts';
import { hashTree } from './helpers/bytes.ts';
import { repoRoot } from './helpers/python.ts';
import { startAzurite, startMoto } from './helpers/services.ts';
import { blobServiceFor } from '../src/source/azure.ts';
import type { RunningService } from './helpers/services.ts';

/** Every format, shards small enough that each split has several in each format. */
const FLAGS = [...SPLIT3, '--formats', 'parquet,arrow,jsonl,webdataset', '--max-shard-bytes', '1MB', '--shard-samples', '6'];
/** On s3:// without JSONL, whose frame-per-file uploads make moto_server slow; the rest is the same code. */
const S3_FORMATS = 'parquet,arrow,webdataset';
const S3_FLAGS = FLAGS.map((f) => (f.startsWith('parquet,') ? S3_FORMATS : f));
const SAMPLES = ['jsonl', 'parquet', 'arrow', 'webdataset'].map((f) => path.join(repoRoot, 'samples', f));

let work = '';
let big = '';
let moto: RunningService;
let s3: S3Client;
let azurite: RunningService;

beforeAll(async () => {
  work = await tempDir('nusomi-partition-');
  big = path.join(work, 'big-export');
  const made = scriptOk('scripts/make-samples.ts', ['--sessions', '6', '--steps', '40', '--format', 'jsonl', '--out', big]);
  const [m, a] = await Promise.all([startMoto(), startAzurite(), made]);
  moto = m;
  azurite = a;
  await blobServiceFor(azurite.env).getContainerClient('parts').create();
  s3 = s3ClientFor(moto.env);
  await s3.send(new CreateBucketCommand({ Bucket: 'parts' }));
}, 300_000);
afterAll(async () => {
  await Promise.all([moto?.stop(), azurite?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

/** The options the CLI builds from FLAGS (the same object for the single run and every step). */
function options(input: string, out: string): ConvertOptions {
  return {
    input,
    out,
    formats:
      /^(s3|az):/.test(out) || out.endsWith('-s3') ? ['parquet', 'arrow', 'webdataset'] : ['parquet', 'arrow', 'jsonl', 'webdataset'],
    split: { split: 'train=0.8,validation=0.1,test=0.1', seed: '0' },
    filters: {},
    frames: {},
    maxShardBytes: 1_000_000,
    wds: { shardSamples: 6 },
    onError: 'stop',
  };
}

/** plan, the N partitions (last first: order must not matter), finalize; all in this process. */
async function partitioned(input: string, out: string, n: number): Promise<void> {
  await planOnly(options(input, out));
  for (let i = n - 1; i >= 0; i--) await convertPartition(options(input, out), { index: i, count: n });
  await finalizeConvert(options(input, out));
}

async function s3Tree(prefix: string): Promise<Record<string, string>> {
  const { createHash } = await import('node:crypto');
  const out: Record<string, string> = {};
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: 'parts', Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) {
      const body = await (await s3.send(new GetObjectCommand({ Bucket: 'parts', Key: o.Key! }))).Body!.transformToByteArray();
      out[o.Key!.slice(prefix.length)] = createHash('sha256').update(body).digest('hex');
    }
    token = r.NextContinuationToken;
  } while (token);
  return out;
}

const singles = new Map<string, Promise<Record<string, string>>>();
/** The hash tree of one CLI convert of `input` with `flags`, made once per test run. */
function singleTree(input: string, flags: string[]): Promise<Record<string, string>> {
  const key = JSON.stringify([input, flags]);
  let p = singles.get(key);
  if (!p) {
    const out = path.join(work, `single-${singles.size}`);
    p = convertOk(input, out, flags).then(() => hashTree(out));
    singles.set(key, p);
  }
  return p;
}

async function azTree(prefix: string): Promise<Record<string, string>> {
  const { createHash } = await import('node:crypto');
  const container = blobServiceFor(azurite.env).getContainerClient('parts');
  const out: Record<string, string> = {};
  for await (const b of container.listBlobsFlat({ prefix })) {
    const body = await container.getBlockBlobClient(b.name).downloadToBuffer();
    out[b.name.slice(prefix.length)] = createHash('sha256').update(new Uint8Array(body)).digest('hex');
  }
  return out;
}

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawnCli(args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

describe('partitioned convert equals a single convert, byte for byte', () => {
  for (const sample of [...SAMPLES, 'big']) {
    it(`${path.basename(sample)} export, N = 1, 2, 3, local`, async () => {
      const input = sample === 'big' ? big : sample;
      const dir = path.join(work, `local-${path.basename(sample)}`);
      await convert(options(input, path.join(dir, 'single')));
      const single = await hashTree(path.join(dir, 'single'));
      expect(Object.keys(single).filter((p) => p.endsWith('.tar')).length).toBeGreaterThan(3);
      for (const n of [1, 2, 3]) {
        const out = path.join(dir, `n${n}`);
        await partitioned(input, out, n);
        expect(await hashTree(out), `N = ${n}`).toEqual(single);
        // The parts (plan, records, build) are gone once finalized.
        expect((await readdir(dir)).filter((e) => e.includes('nusomi'))).toEqual([]);
      }
    }, 120_000);
  }

  it('on s3:// (moto_server), N = 1, 2, 3', async () => {
    await convert(options(SAMPLE, path.join(work, 'single-s3')));
    const single = await hashTree(path.join(work, 'single-s3'));
    const saved = { ...process.env };
    Object.assign(process.env, moto.env);
    try {
      for (const n of [1, 2, 3]) {
        await partitioned(SAMPLE, `s3://parts/n${n}/`, n);
        expect(await s3Tree(`n${n}/`), `N = ${n}`).toEqual(single);
      }
    } finally {
      process.env = saved;
    }
  }, 300_000);

  it('on az:// (Azurite), N = 2', async () => {
    await convert(options(SAMPLE, path.join(work, 'single-az-s3')));
    const single = await hashTree(path.join(work, 'single-az-s3'));
    const saved = { ...process.env };
    Object.assign(process.env, azurite.env);
    try {
      await partitioned(SAMPLE, 'az://parts/n2/', 2);
      expect(await azTree('n2/')).toEqual(single);
    } finally {
      process.env = saved;
    }
  }, 300_000);

  it('through the CLI, partitions running at once as separate processes, local and s3://', async () => {
    for (const [out, n] of [
      [path.join(work, 'cli-local'), 3],
      ['s3://parts/cli/', 2],
    ] as const) {
      const s3out = out.startsWith('s3:');
      const env = s3out ? moto.env : {};
      const flags = s3out ? S3_FLAGS : FLAGS;
      expect((await run(['convert', big, '--out', out, ...flags, '--plan-only'], env)).code).toBe(0);
      const runs = Array.from({ length: n }, (_, i) => run(['convert', big, '--out', out, ...flags, '--partition', `${i}/${n}`], env));
      expect((await Promise.all(runs)).map((p) => p.code)).toEqual(Array(n).fill(0));
      const fin = await run(['convert', big, '--out', out, ...flags, '--finalize'], env);
      expect(fin.code, fin.stderr).toBe(0);
      expect(s3out ? await s3Tree('cli/') : await hashTree(out)).toEqual(await singleTree(big, flags));
    }
  }, 300_000);
});

describe('failures', () => {
  it('a partition killed with SIGKILL mid-way is re-run alone; finalize refuses until then, naming the missing files', async () => {
    const out = path.join(work, 'killed');
    const parts = path.join(work, '.killed.nusomi-parts');
    const args = ['convert', big, '--out', out, ...FLAGS];
    expect((await run([...args, '--plan-only'])).code).toBe(0);
    expect((await run([...args, '--partition', '1/2'])).code).toBe(0);
    // Partition 0 is killed once it has committed some shards but not all.
    const child = spawnCli([...args, '--partition', '0/2'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    for (let i = 0; i < 600; i++) {
      const listed = await readdir(path.join(parts, 'build', 'webdataset')).catch(() => [] as string[]);
      if (listed.some((f) => f.endsWith('.tar'))) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(path.join(parts, 'done', '0-of-2.json'))).toBe(false);

    const refused = await runCli([...args, '--finalize']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/planned files are missing \(a partition did not finish\): data\/train-00000-of-\d+\.parquet/);
    expect(existsSync(out)).toBe(false);

    expect((await run([...args, '--partition', '0/2'])).code).toBe(0);
    const fin = await run([...args, '--finalize']);
    expect(fin.code, fin.stderr).toBe(0);
    expect(await hashTree(out)).toEqual(await singleTree(big, FLAGS));
  }, 120_000);

  it('finalize names a missing partition file, one line, exit 1; a plain convert refuses while a plan is in place', async () => {
    const out = path.join(work, 'missing');
    const args = ['convert', SAMPLE, '--out', out, ...FLAGS];
    expect((await run([...args, '--plan-only'])).code).toBe(0);
    expect((await run([...args, '--partition', '0/2'])).code).toBe(0);
    const fin = await runCli([...args, '--finalize']);
    expect(fin.code).toBe(1);
    expect(fin.stderr.trim().split('\n')).toHaveLength(1);
    expect(fin.stderr).toMatch(/\d+ planned files are missing \(a partition did not finish\): /);
    expect(fin.stderr).not.toMatch(/\n\s+at /);

    const plain = await runCli(['convert', SAMPLE, '--out', out, ...FLAGS]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/has a partitioned convert under way .*convert --finalize/);

    // A partition given other options than the plan's is refused before writing anything.
    const other = await runCli(['convert', SAMPLE, '--out', out, ...FLAGS, '--seed', '7', '--partition', '1/2']);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/options differ from the plan's \(options\.split\.seed\)/);
  }, 60_000);

  it('extra configs (sft, episodes) are refused by every partitioned step, before anything is written', async () => {
    const out = path.join(work, 'configs');
    const args = ['convert', SAMPLE, '--out', out, ...FLAGS, '--configs', 'steps,sft'];
    for (const step of [['--plan-only'], ['--partition', '0/2'], ['--finalize']]) {
      const r = await runCli([...args, ...step]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`convert ${step.join(' ')}: --configs sft cannot be partitioned yet`);
    }
    expect(existsSync(out)).toBe(false);
    expect(existsSync(path.join(work, '.configs.nusomi-parts'))).toBe(false);
  }, 60_000);

  it('a record whose file was changed afterwards is refused by finalize', async () => {
    const out = path.join(work, 'tampered');
    const args = ['convert', SAMPLE, '--out', out, ...FLAGS];
    expect((await run([...args, '--plan-only'])).code).toBe(0);
    expect((await run([...args, '--partition', '0/1'])).code).toBe(0);
    const build = path.join(work, '.tampered.nusomi-parts', 'build');
    await mkdir(path.join(build, 'data'), { recursive: true });
    const shard = (await readdir(path.join(build, 'data'))).find((f) => f.endsWith('.parquet'))!;
    await writeFile(path.join(build, 'data', shard), 'short');
    const fin = await runCli([...args, '--finalize']);
    expect(fin.code).toBe(1);
    expect(fin.stderr).toContain(`data/${shard} (5 bytes,`);
  }, 60_000);
});
