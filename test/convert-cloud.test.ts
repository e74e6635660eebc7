/**
 * `convert --out s3://…` (moto_server) and `--out az://…` (Azurite): every output format lands as
 * objects byte-identical to a local run, including multipart/multi-block shards; and a convert
 * killed mid-upload leaves no object under a final key, only an upload (S3) or staged blocks (Azure)
 * never completed.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { blobServiceFor } from '../src/source/azure.ts';
import { s3ClientFor } from '../src/source/s3.ts';
import { cliOk, scriptOk, spawnCli } from './helpers/cli.ts';
import { repoRoot } from './helpers/python.ts';
import { startAzurite, startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

const SAMPLE = path.join(repoRoot, 'samples/jsonl');
const ALL_FORMATS = [
  '--formats',
  'parquet,arrow,jsonl,webdataset',
  '--split',
  'train=0.6,validation=0.2,test=0.2',
  '--seed',
  '2',
  '--world-size',
  '2',
  '--workers',
  '3',
];
// The large export makes one ~20 MB shard: several 8 MiB parts / blocks.
const BIG_ARGS = ['--formats', 'webdataset,parquet', '--split', 'train=1', '--min-shards', '1', '--shard-bytes', '1GB'];

let moto: RunningService;
let azurite: RunningService;
let s3: S3Client;
let container: ContainerClient;
let tmp = '';
let big = '';

function cli(input: string, out: string, args: string[], env: Record<string, string> = {}) {
  return cliOk(['convert', input, '--out', out, ...args], env);
}

async function localFiles(root: string, dir = ''): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const e of await readdir(path.join(root, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of await localFiles(root, rel)) out.set(k, v);
    else out.set(rel, new Uint8Array(await readFile(path.join(root, rel))));
  }
  return out;
}

async function s3Keys(bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    token = r.NextContinuationToken;
  } while (token);
  return keys.sort();
}

async function s3Files(bucket: string, prefix: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const key of await s3Keys(bucket, prefix)) {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    out.set(key.slice(prefix.length), await r.Body!.transformToByteArray());
  }
  return out;
}

async function azFiles(prefix: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for await (const b of container.listBlobsFlat({ prefix })) {
    out.set(b.name.slice(prefix.length), new Uint8Array(await container.getBlockBlobClient(b.name).downloadToBuffer()));
  }
  return out;
}

function expectSameFiles(got: Map<string, Uint8Array>, want: Map<string, Uint8Array>, where: string): void {
  expect([...got.keys()].sort(), where).toEqual([...want.keys()].sort());
  for (const [rel, bytes] of want) expect(Buffer.compare(got.get(rel)!, bytes), `${where} ${rel}`).toBe(0);
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'convert-cloud-'));
  big = path.join(tmp, 'big-export');
  const [m, a] = await Promise.all([
    startMoto(),
    startAzurite(),
    scriptOk('scripts/make-samples.ts', ['--sessions', '2', '--steps', '70', '--format', 'jsonl', '--out', big]),
  ]);
  moto = m;
  azurite = a;
  s3 = s3ClientFor(moto.env);
  await s3.send(new CreateBucketCommand({ Bucket: 'out' }));
  await s3.send(new CreateBucketCommand({ Bucket: 'killed' }));
  container = blobServiceFor(azurite.env).getContainerClient('out');
  await container.create();
  await cli(big, path.join(tmp, 'big-local'), BIG_ARGS);
}, 300_000);
afterAll(async () => {
  await Promise.all([moto?.stop(), azurite?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('convert to object storage', () => {
  it('every format (parquet, arrow, jsonl, webdataset, README.md, manifest) is byte-identical on S3, Azure and disk', async () => {
    const local = path.join(tmp, 'local');
    await cli(SAMPLE, local, ALL_FORMATS);
    await cli(SAMPLE, 's3://out/sample/', ALL_FORMATS, moto.env);
    await cli(SAMPLE, 'az://out/sample/', ALL_FORMATS, azurite.env);
    const want = await localFiles(local);
    const manifest = JSON.parse(new TextDecoder().decode(want.get('dataset-manifest.json'))) as DatasetManifest;
    // The manifest lists every file but the card and itself; all four formats are there.
    expect([...manifest.files.map((f) => f.path), 'README.md', 'dataset-manifest.json'].sort()).toEqual([...want.keys()].sort());
    expect([...new Set(manifest.files.map((f) => f.format))].sort()).toEqual(['arrow', 'jsonl', 'parquet', 'webdataset']);
    expectSameFiles(await s3Files('out', 'sample/'), want, 's3');
    expectSameFiles(await azFiles('sample/'), want, 'az');
  });

  it('a shard of several parts / blocks is byte-identical on S3 and Azure', async () => {
    const want = await localFiles(path.join(tmp, 'big-local'));
    expect(want.get('webdataset/train-000000.tar')!.length).toBeGreaterThan(2 * 8 * 1024 * 1024);
    await cli(big, 's3://out/big/', BIG_ARGS, moto.env);
    expectSameFiles(await s3Files('out', 'big/'), want, 's3');
    await cli(big, 'az://out/big/', BIG_ARGS, azurite.env);
    expectSameFiles(await azFiles('big/'), want, 'az');
  });

  it('SIGKILL during a multipart upload leaves no object under a final key', async () => {
    const child = spawnCli(['convert', big, '--out', 's3://killed/ds/', ...BIG_ARGS], {
      env: moto.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    let finished = false;
    void exited.then(() => {
      finished = true;
    });

    // Kill once a multipart upload has at least one part stored: an upload is under way.
    let inFlight: { Key: string; UploadId: string } | undefined;
    while (!inFlight && !finished) {
      const ups = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'killed' }));
      for (const u of ups.Uploads ?? []) {
        const parts = await s3.send(new ListPartsCommand({ Bucket: 'killed', Key: u.Key!, UploadId: u.UploadId! }));
        if ((parts.Parts ?? []).length > 0) inFlight = { Key: u.Key!, UploadId: u.UploadId! };
      }
      if (!inFlight) await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    const { signal } = await exited;
    expect(inFlight, `convert finished before an upload was seen in flight: ${stderr}`).toBeDefined();
    expect(signal).toBe('SIGKILL');

    const keys = await s3Keys('killed', 'ds/');
    // Nothing under the in-flight key; whatever did complete is whole (byte-identical to disk).
    expect(keys).not.toContain(inFlight!.Key);
    const want = await localFiles(path.join(tmp, 'big-local'));
    const got = await s3Files('killed', 'ds/');
    // The killed run's lock stays until the next run takes it over (convert-output-remote.test.ts).
    expect(got.has('.nusomi-lock')).toBe(true);
    got.delete('.nusomi-lock');
    for (const [rel, bytes] of got) expect(Buffer.compare(bytes, want.get(rel)!), rel).toBe(0);
    // The manifest is written last, so a killed run never looks complete.
    expect(keys).not.toContain('ds/dataset-manifest.json');
    // The killed upload was never completed: S3 still lists it as in progress.
    const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'killed' }));
    expect((after.Uploads ?? []).map((u) => u.UploadId)).toContain(inFlight!.UploadId);
  });

  it('SIGKILL while Azure blocks are staged leaves no blob under a final name', async () => {
    const child = spawnCli(['convert', big, '--out', 'az://out/killed/', ...BIG_ARGS], {
      env: azurite.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let finished = false;
    void exited.then(() => {
      finished = true;
    });

    // Kill once the shard has a staged (uncommitted) block: its upload is under way.
    const shard = container.getBlockBlobClient('killed/webdataset/train-000000.tar');
    let staged = 0;
    while (!staged && !finished) {
      const list = await shard.getBlockList('uncommitted').catch(() => undefined);
      staged = list?.uncommittedBlocks?.length ?? 0;
      if (!staged) await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    expect(staged, `convert finished before a block was seen staged: ${stderr}`).toBeGreaterThan(0);
    expect(await exited).toBe('SIGKILL');

    const got = await azFiles('killed/');
    expect([...got.keys()]).not.toContain('webdataset/train-000000.tar');
    expect([...got.keys()]).not.toContain('dataset-manifest.json');
    const want = await localFiles(path.join(tmp, 'big-local'));
    // The killed run's lock stays until the next run takes it over (convert-output-remote.test.ts).
    expect(got.has('.nusomi-lock')).toBe(true);
    got.delete('.nusomi-lock');
    for (const [rel, bytes] of got) expect(Buffer.compare(bytes, want.get(rel)!), rel).toBe(0);
    // The staged blocks were never committed.
    expect((await shard.getBlockList('uncommitted')).uncommittedBlocks?.length).toBeGreaterThan(0);
  });
});
