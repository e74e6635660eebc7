/**
 * The Ray driver (engines/ray/nusomi_hf_ray.py) on a local Ray instance: plan, partitions as Ray
 * tasks, finalize; into a local folder and into s3:// (moto_server). The CLI it runs fails once for
 * partition 1 (a wrapper script), and Ray retries that task. The result is the single convert's,
 * byte for byte.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { s3ClientFor } from '../src/source/s3.ts';
import { SAMPLE, SPLIT3, convertOk, tempDir } from './convert-fixtures.ts';
import { CLI_SOURCE } from './helpers/cli.ts';
import { hashTree } from './helpers/bytes.ts';
import { repoRoot, venvPython } from './helpers/python.ts';
import { startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

const FLAGS = [...SPLIT3, '--formats', 'parquet,webdataset', '--max-shard-bytes', '1MB', '--shard-samples', '6'];
const DRIVER = path.join(repoRoot, 'engines', 'ray', 'nusomi_hf_ray.py');

let work = '';
let moto: RunningService;
let s3: S3Client;
let single: Record<string, string> = {};

beforeAll(async () => {
  work = await tempDir('nusomi-ray-');
  moto = await startMoto();
  s3 = s3ClientFor(moto.env);
  await s3.send(new CreateBucketCommand({ Bucket: 'ray' }));
  await convertOk(SAMPLE, path.join(work, 'single'), FLAGS);
  single = await hashTree(path.join(work, 'single'));
}, 300_000);
afterAll(async () => {
  await moto?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** nusomi-hf from the sources, except that partition 1 exits 1 the first time (then a marker exists). */
async function flakyCli(name: string): Promise<{ cli: string; log: string }> {
  const cli = path.join(work, `${name}-cli.sh`);
  const mark = path.join(work, `${name}-failed-once`);
  const log = path.join(work, `${name}-calls.log`);
  await writeFile(
    cli,
    [
      '#!/bin/sh',
      `echo "$*" >> '${log}'`,
      `case "$*" in *"--partition 1/"*) if [ ! -e '${mark}' ]; then touch '${mark}'; echo 'injected failure' >&2; exit 1; fi;; esac`,
      `exec '${process.execPath}' --import tsx '${CLI_SOURCE}' "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(cli, 0o755);
  return { cli, log };
}

function driver(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  // A shared, loaded test machine can take longer than Ray's default to start its raylet.
  const slow = { RAY_raylet_start_wait_time_s: '240' };
  const child = spawn(venvPython, [DRIVER, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...slow, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

async function s3Tree(prefix: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const r = await s3.send(new ListObjectsV2Command({ Bucket: 'ray', Prefix: prefix }));
  for (const o of r.Contents ?? []) {
    const body = await (await s3.send(new GetObjectCommand({ Bucket: 'ray', Key: o.Key! }))).Body!.transformToByteArray();
    out[o.Key!.slice(prefix.length)] = createHash('sha256').update(body).digest('hex');
  }
  return out;
}

for (const target of ['local', 's3'] as const) {
  it(`Ray runs 3 partitions into ${target === 'local' ? 'a local folder' : 's3:// (moto_server)'}, retrying the one that fails once`, async () => {
    const { cli, log } = await flakyCli(target);
    const out = target === 'local' ? path.join(work, 'ray-out') : 's3://ray/out/';
    const r = await driver(
      ['--partitions', '3', '--num-cpus', '2', '--max-retries', '2', '--cli', cli, '--cwd', repoRoot, '--', SAMPLE, '--out', out, ...FLAGS],
      target === 's3' ? moto.env : {},
    );
    expect(r.code, r.out).toBe(0);
    const calls = (await readFile(log, 'utf8')).trim().split('\n');
    // plan, partition 0, partition 1 twice (failed, then retried by Ray), partition 2, finalize
    expect(calls.filter((c) => c.includes('--partition 1/3'))).toHaveLength(2);
    expect(calls.filter((c) => c.includes('--plan-only') || c.includes('--finalize'))).toHaveLength(2);
    expect(target === 'local' ? await hashTree(out) : await s3Tree('out/')).toEqual(single);
  }, 600_000);
}
