/**
 * Validating a dataset from s3:// (moto_server on loopback) gives the same report as the local copy.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { s3ClientFor } from '../src/source/s3.ts';
import { runCli } from './helpers/cli.ts';
import type { CliRun } from './helpers/cli.ts';
import { copySampleConversion } from './helpers/sample-cache.ts';
import { startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

let moto: RunningService;
let tmp: string;
/** Async on purpose: moto is our child and logs to a pipe that a blocked event loop would never drain. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<CliRun> => runCli(args, env);

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-s3-'));
  moto = await startMoto();
}, 180_000);
afterAll(async () => {
  await moto?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function upload(dir: string, prefix: string): Promise<void> {
  const s3 = s3ClientFor(moto.env);
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    const key = `${prefix}/${path.relative(dir, full).split(path.sep).join('/')}`;
    await s3.send(new PutObjectCommand({ Bucket: 'datasets', Key: key, Body: await readFile(full) }));
  }
}

it('s3:// and the local copy give the same report (with findings in it)', async () => {
  const local = await copySampleConversion(
    ['--formats', 'parquet,arrow,jsonl,webdataset', '--split', 'train=0.6,validation=0.2,test=0.2', '--seed', '1'],
    path.join(tmp, 'ds'),
  );
  // Plant something so the report is not trivially empty: an e-mail in a dom, a size change.
  const f = path.join(local, 'jsonl/train-00000.jsonl');
  const lines = (await readFile(f, 'utf8')).split('\n');
  const row = JSON.parse(lines[1]!);
  row.dom = JSON.stringify({ email: 'someone@example.org' });
  lines[1] = JSON.stringify(row);
  await writeFile(f, lines.join('\n'));
  await s3ClientFor(moto.env).send(new CreateBucketCommand({ Bucket: 'datasets' }));
  await upload(local, 'v1');

  const a = await cli(['validate', local, '--json']);
  const b = await cli(['validate', 's3://datasets/v1/', '--json'], moto.env);
  expect(a.code).toBe(1);
  expect(b.code, b.stderr).toBe(1);
  const ra = JSON.parse(a.stdout);
  const rb = JSON.parse(b.stdout);
  expect(ra.checks.map((c: { id: string }) => c.id)).toEqual(['dataset.file_size_mismatch', 'privacy.email']);
  delete ra.target;
  delete rb.target;
  expect(rb).toEqual(ra);
}, 300_000);
