/**
 * Partitioned convert with the extra configs (`--configs steps,sft,episodes`, sft with history of
 * actions and frames): plan + N partitions + finalize equals one convert byte for byte, for every
 * sample export and a generated one of more sessions over three data files, N = 1, 2, 3, locally
 * and on s3:// (moto_server); with --frames every-n-ms and keyframes; a partition that owns config
 * files late in the export starts at a resume point; a partition killed with SIGKILL is re-run
 * alone; finalize names a config file that is missing.
 */
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../src/convert/convert.ts';
import type { ConvertOptions } from '../src/convert/convert.ts';
import { finalizeConvert } from '../src/convert/finalize.ts';
import { convertPartition, planOnly, resumePoint } from '../src/convert/partition.ts';
import type { ResumePoint } from '../src/convert/plan-pass.ts';
import { s3ClientFor } from '../src/source/s3.ts';
import type { JsonObject } from '../src/export/step.ts';
import { SAMPLE, SPLIT3, runCli, sampleJsonRows, tempDir } from './convert-fixtures.ts';
import { scriptOk, spawnCli } from './helpers/cli.ts';
import { hashTree } from './helpers/bytes.ts';
import { repoRoot } from './helpers/python.ts';
import { startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

/** Small shards: each split has several files in data/, sft/ and (train) episodes/. */
const FLAGS = [
  ...SPLIT3,
  '--formats',
  'parquet',
  '--configs',
  'steps,sft,episodes',
  '--history',
  '2',
  '--history-frames',
  '1',
  '--max-shard-bytes',
  '100KB',
];
const SAMPLES = ['jsonl', 'parquet', 'arrow', 'webdataset'].map((f) => path.join(repoRoot, 'samples', f));

let work = '';
/** The sample's rows three times over (sessions renamed), in three data files: 24 sessions, 231 rows. */
let generated = '';
/** make-samples' frame-sampled export: frames without actions between action frames. */
let sampled = '';
let moto: RunningService;
let s3: S3Client;

beforeAll(async () => {
  work = await tempDir('nusomi-partition-configs-');
  generated = await tripledSample(path.join(work, 'generated'));
  sampled = path.join(work, 'sampled');
  const made = scriptOk('scripts/make-samples.ts', ['--frames-every-ms', '100', '--out', sampled]);
  [moto] = await Promise.all([startMoto(), made]);
  s3 = s3ClientFor(moto.env);
  await s3.send(new CreateBucketCommand({ Bucket: 'configs' }));
}, 300_000);
afterAll(async () => {
  await moto?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function tripledSample(dir: string): Promise<string> {
  const rows: JsonObject[] = (await sampleJsonRows()).flatMap((r) =>
    [0, 1, 2].map((k) => ({ ...r, session_id: `${String(r.session_id)}_${k}` })),
  );
  const key = (r: (typeof rows)[number]) => `${r.session_id}/${String(r.t_ms).padStart(12, '0')}`;
  rows.sort((a, b) => (key(a) < key(b) ? -1 : 1));
  await mkdir(path.join(dir, 'data'), { recursive: true });
  await cp(path.join(SAMPLE, 'frames'), path.join(dir, 'frames'), { recursive: true });
  const per = Math.ceil(rows.length / 3);
  for (let f = 0; f < 3; f++) {
    const text = rows.slice(f * per, (f + 1) * per).map((r) => JSON.stringify(r) + '\n');
    await writeFile(path.join(dir, 'data', `part-0000${f}.jsonl`), text.join(''));
  }
  const manifest = JSON.parse(await readFile(path.join(SAMPLE, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(manifest, { rows: rows.length, frames: rows.length, actions: rows.length, shards: 3 });
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return dir;
}

/** The options the CLI builds from FLAGS. */
function options(input: string, out: string, extra: Partial<ConvertOptions> = {}): ConvertOptions {
  return {
    input,
    out,
    formats: ['parquet'],
    configs: ['sft', 'episodes'],
    sft: { history: 2, historyFrames: 1 },
    split: { split: 'train=0.8,validation=0.1,test=0.1', seed: '0' },
    filters: {},
    frames: {},
    maxShardBytes: 100_000,
    wds: {},
    onError: 'stop',
    ...extra,
  };
}

/** plan, the N partitions (last first: order must not matter), finalize; all in this process. */
async function partitioned(opts: ConvertOptions, n: number): Promise<void> {
  await planOnly(opts);
  for (let i = n - 1; i >= 0; i--) await convertPartition(opts, { index: i, count: n });
  await finalizeConvert(opts);
}

const singles = new Map<string, Promise<Record<string, string>>>();
/**
 * One convert's hash tree, made once per input and options; checks the configs have several files
 * each, so partitions share them out.
 */
function singleTree(opts: ConvertOptions): Promise<Record<string, string>> {
  const key = JSON.stringify({ ...opts, out: undefined });
  let p = singles.get(key);
  if (!p) {
    const out = path.join(work, `single-${singles.size}`);
    p = convert({ ...opts, out }).then(() => hashTree(out));
    singles.set(key, p);
  }
  return p.then((tree) => {
    for (const c of opts.configs ?? []) expect(Object.keys(tree).filter((f) => f.startsWith(`${c}/`)).length).toBeGreaterThanOrEqual(2);
    return tree;
  });
}

async function s3Tree(prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: 'configs', Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) {
      const body = await (await s3.send(new GetObjectCommand({ Bucket: 'configs', Key: o.Key! }))).Body!.transformToByteArray();
      out[o.Key!.slice(prefix.length)] = createHash('sha256').update(body).digest('hex');
    }
    token = r.NextContinuationToken;
  } while (token);
  return out;
}

describe('partitioned convert with sft and episodes equals a single convert, byte for byte', () => {
  for (const sample of [...SAMPLES, 'generated']) {
    it(`${path.basename(sample)} export, N = 1, 2, 3, local`, async () => {
      const input = sample === 'generated' ? generated : sample;
      const dir = path.join(work, `local-${path.basename(sample)}`);
      const single = await singleTree(options(input, path.join(dir, 'single')));
      for (const n of [1, 2, 3]) {
        await partitioned(options(input, path.join(dir, `n${n}`)), n);
        expect(await hashTree(path.join(dir, `n${n}`)), `N = ${n}`).toEqual(single);
      }
      // The manifest lists the config files, each with its config.
      const manifest = JSON.parse(await readFile(path.join(dir, 'n3', 'dataset-manifest.json'), 'utf8')) as {
        files: Array<{ path: string; config?: string }>;
      };
      expect(manifest.files.filter((f) => f.config === 'episodes').every((f) => f.path.startsWith('episodes/'))).toBe(true);
      expect(manifest.files.some((f) => f.config === 'sft')).toBe(true);
    }, 120_000);
  }

  it('on s3:// (moto_server), N = 1, 2, 3', async () => {
    // Larger shards than locally (fewer uploads to moto_server); still several config files per split.
    const extra = { maxShardBytes: 1_000_000 };
    const single = await singleTree(options(generated, '', extra));
    const saved = { ...process.env };
    Object.assign(process.env, moto.env);
    try {
      for (const n of [1, 2, 3]) {
        await partitioned(options(generated, `s3://configs/n${n}/`, extra), n);
        expect(await s3Tree(`n${n}/`), `N = ${n}`).toEqual(single);
      }
    } finally {
      process.env = saved;
    }
  }, 300_000);

  // Frame sampling decides per session, and a partition starts reading at a session start: it keeps
  // the same frames as one convert. (sft renders actions only, so these exports' frames without an
  // action go to steps and episodes.)
  for (const [frames, counts] of [
    ['every-n-ms:250', [2, 3]],
    ['keyframes', [3]],
  ] as const) {
    it(`--frames ${frames}: N = ${counts.join(', ')}`, async () => {
      const extra: Partial<ConvertOptions> = { configs: ['episodes'], sft: undefined, filters: { frames }, maxShardBytes: 40_000 };
      const dir = path.join(work, `sampled-${frames.replace(/\W/g, '-')}`);
      const single = await singleTree(options(sampled, path.join(dir, 'single'), extra));
      for (const n of counts) {
        await partitioned(options(sampled, path.join(dir, `n${n}`), extra), n);
        expect(await hashTree(path.join(dir, `n${n}`)), `N = ${n}`).toEqual(single);
      }
    }, 120_000);
  }

  it('the partition owning the last config files reads no row of the first data file', async () => {
    const input = path.join(work, 'resume-export');
    await cp(generated, input, { recursive: true });
    // One split, so the last of three partitions owns the last third of every config's files.
    const opts = (out: string) => options(input, path.join(work, out), { split: { split: 'train=1', seed: '0' } });
    const single = await singleTree(opts('resume-single'));
    await planOnly(opts('resume-parts'));
    const first = path.join(input, 'data', 'part-00000.jsonl');
    const good = await readFile(first, 'utf8');
    await writeFile(first, good.replace(/^.+$/gm, '{not json'));
    try {
      await convertPartition(opts('resume-parts'), { index: 2, count: 3 });
    } finally {
      await writeFile(first, good);
    }
    // It wrote a share of every config's files (episodes: the last sessions).
    const record = JSON.parse(await readFile(path.join(work, '.resume-parts.nusomi-parts', 'done', '2-of-3.json'), 'utf8')) as {
      shards: Array<{ config?: string; files: Array<{ path: string }> }>;
    };
    for (const config of ['sft', 'episodes']) {
      const files = record.shards.filter((r) => r.config === config).flatMap((r) => r.files.map((f) => f.path));
      expect(files.length, config).toBeGreaterThan(2);
      expect(files.every((f) => f.startsWith(`${config}/train-`))).toBe(true);
    }
    await convertPartition(opts('resume-parts'), { index: 0, count: 3 });
    await convertPartition(opts('resume-parts'), { index: 1, count: 3 });
    await finalizeConvert(opts('resume-parts'));
    expect(await hashTree(path.join(work, 'resume-parts'))).toEqual(single);
  }, 120_000);
});

it('resumePoint: the last point before the first row and the first session a partition needs', () => {
  const points: ResumePoint[] = [
    { file: 0, item: 0, before: {}, sessions: {} },
    { file: 0, item: 40, before: { train: 30, test: 10 }, sessions: { train: 3, test: 1 } },
    { file: 1, item: 0, before: { train: 60, test: 20 }, sessions: { train: 6, test: 2 } },
  ];
  expect(resumePoint(points, new Map(), new Map([['train', 6]]))).toEqual(points[2]);
  expect(resumePoint(points, new Map(), new Map([['train', 5]]))).toEqual(points[1]);
  expect(resumePoint(points, new Map([['train', 61]]), new Map([['test', 1]]))).toEqual(points[1]);
  expect(resumePoint(points, new Map(), new Map([['test', 0]]))).toEqual(points[0]);
  // Points without session counts are not started from for a session.
  expect(resumePoint([{ file: 0, item: 0, before: {} }], new Map(), new Map([['train', 0]]))).toBeUndefined();
});

describe('failures, through the CLI', () => {
  function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawnCli(args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  }

  it('a partition killed with SIGKILL once it wrote a config file is re-run alone; the result is the single convert', async () => {
    const out = path.join(work, 'killed');
    const parts = path.join(work, '.killed.nusomi-parts');
    const args = ['convert', generated, '--out', out, ...FLAGS];
    expect((await run([...args, '--plan-only'])).code).toBe(0);
    expect((await run([...args, '--partition', '1/2'])).code).toBe(0);
    const child = spawnCli([...args, '--partition', '0/2'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    for (let i = 0; i < 2000; i++) {
      const listed = await readdir(path.join(parts, 'build', 'sft')).catch(() => [] as string[]);
      if (listed.some((f) => f.endsWith('.parquet') && !f.startsWith('.'))) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(path.join(parts, 'done', '0-of-2.json'))).toBe(false);

    const refused = await runCli([...args, '--finalize']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/planned files are missing \(a partition did not finish\)/);

    expect((await run([...args, '--partition', '0/2'])).code).toBe(0);
    const fin = await run([...args, '--finalize']);
    expect(fin.code, fin.stderr).toBe(0);
    // FLAGS are options() on the command line: the single convert is the one made above.
    expect(await hashTree(out)).toEqual(await singleTree(options(generated, '')));
  }, 120_000);

  it('finalize names the config files that are missing, one line, exit 1, and writes nothing', async () => {
    const out = path.join(work, 'lost');
    const args = ['convert', SAMPLE, '--out', out, ...FLAGS];
    expect((await run([...args, '--plan-only'])).code).toBe(0);
    expect((await run([...args, '--partition', '0/1'])).code).toBe(0);
    const build = path.join(work, '.lost.nusomi-parts', 'build');
    const lost: string[] = [];
    for (const config of ['episodes', 'sft']) {
      const file = `${config}/${(await readdir(path.join(build, config))).sort()[1]!}`;
      await unlink(path.join(build, file));
      lost.push(`${file} (missing)`);
    }
    const fin = await runCli([...args, '--finalize']);
    expect(fin.code).toBe(1);
    expect(fin.stderr.trim().split('\n')).toHaveLength(1);
    expect(fin.stderr).toContain('2 recorded files are not as the partition recorded: ');
    for (const l of lost) expect(fin.stderr).toContain(l);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});
