/**
 * Validating a dataset from s3:// (moto_server on loopback) gives the same report as the local copy.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { s3ClientFor } from '../src/source/s3.ts';
import { repoRoot } from './helpers/python.ts';
import { startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

let moto: RunningService;
let tmp: string;
/** Async on purpose: moto is our child and logs to a pipe that a blocked event loop would never drain. */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src/cli/main.ts'), ...args], { cwd: repoRoot, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    c.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    c.on('error', reject);
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

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
  const local = path.join(tmp, 'ds');
  const r = await cli(['convert', 'samples/jsonl', '--out', local, '--formats', 'parquet,arrow,jsonl,webdataset', '--split', 'train=0.6,validation=0.2,test=0.2', '--seed', '1']);
  expect(r.status, r.stderr).toBe(0);
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
  expect(a.status).toBe(1);
  expect(b.status, b.stderr).toBe(1);
  const ra = JSON.parse(a.stdout);
  const rb = JSON.parse(b.stdout);
  expect(ra.checks.map((c: { id: string }) => c.id)).toEqual(['dataset.file_size_mismatch', 'privacy.email']);
  delete ra.target;
  delete rb.target;
  expect(rb).toEqual(ra);
}, 300_000);
