/**
 * Output sinks on object storage: S3Sink against moto_server and AzureSink against Azurite. Files
 * read back byte-identical; nothing appears under a final key before commit, after abort, or when
 * the writing process is killed mid-upload.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../src/errors.ts';
import { AzureSink } from '../src/sink/azure.ts';
import { LocalSink } from '../src/sink/local.ts';
import { openSink } from '../src/sink/open.ts';
import { S3Sink } from '../src/sink/s3.ts';
import type { Sink } from '../src/sink/types.ts';
import { AzureSource, blobServiceFor } from '../src/source/azure.ts';
import { S3Source, s3ClientFor } from '../src/source/s3.ts';
import type { Source } from '../src/source/types.ts';
import { noise, sha } from './helpers/bytes.ts';
import { finished, spawnScript } from './helpers/cli.ts';
import { startAzurite, startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

/** Waits for a condition the storage reaches asynchronously (parts upload in the background). */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never became true: ${what}`);
}

let moto: RunningService;
let azurite: RunningService;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'nusomi-sink-'));
  [moto, azurite] = await Promise.all([startMoto(), startAzurite()]);
  await s3ClientFor(moto.env).send(new CreateBucketCommand({ Bucket: 'out' }));
  await blobServiceFor(azurite.env).getContainerClient('out').create();
});

afterAll(async () => {
  await Promise.all([moto?.stop(), azurite?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Backend {
  sink(prefix: string): Sink;
  source(prefix: string): Source;
  /** Whether an incomplete upload / uncommitted blocks exist for the key (proves a write was under way). */
  pending(prefix: string, p: string): Promise<boolean>;
  env(): Record<string, string>;
  url(prefix: string): string;
}

const backends: Record<string, Backend> = {
  s3: {
    sink: (prefix) => new S3Sink(`s3://out/${prefix}/`, moto.env),
    source: (prefix) => new S3Source(`s3://out/${prefix}/`, moto.env),
    pending: async (prefix, p) => {
      const r = await s3ClientFor(moto.env).send(new ListMultipartUploadsCommand({ Bucket: 'out', Prefix: `${prefix}/${p}` }));
      return (r.Uploads ?? []).some((u) => u.Key === `${prefix}/${p}`);
    },
    env: () => moto.env,
    url: (prefix) => `s3://out/${prefix}/`,
  },
  azure: {
    sink: (prefix) => new AzureSink(`az://out/${prefix}/`, azurite.env),
    source: (prefix) => new AzureSource(`az://out/${prefix}/`, azurite.env),
    pending: async (prefix, p) => {
      const blob = blobServiceFor(azurite.env).getContainerClient('out').getBlockBlobClient(`${prefix}/${p}`);
      const r = await blob.getBlockList('uncommitted').catch(() => undefined);
      return (r?.uncommittedBlocks?.length ?? 0) > 0;
    },
    env: () => azurite.env,
    url: (prefix) => `az://out/${prefix}/`,
  },
};

describe.each(Object.keys(backends))('%s sink', (kind) => {
  const b = () => backends[kind]!;

  it('writes a multi-part file that reads back byte-identical, visible only after commit', async () => {
    const data = noise(19 * MiB + 12345, 3);
    const sink = b().sink('multi');
    const f = await sink.create('webdataset/train-000000.tar');
    expect(f.path).toBe('webdataset/train-000000.tar');
    const reused = new Uint8Array(1_000_003);
    for (let off = 0; off < data.length; off += reused.length) {
      const n = Math.min(reused.length, data.length - off);
      reused.set(data.subarray(off, off + n));
      await f.write(n === reused.length ? reused : reused.subarray(0, n));
      reused.fill(0xee); // the sink must have copied what it still holds
    }
    // Several parts/blocks have been sent, but nothing is under the final key yet.
    await eventually('parts staged', () => b().pending('multi', 'webdataset/train-000000.tar'));
    expect(await b().source('multi').exists('webdataset/train-000000.tar')).toBe(false);
    const result = await f.commit();
    expect(result).toEqual({ bytes: data.length, sha256: sha(data) });
    const back = await b().source('multi').read('webdataset/train-000000.tar');
    expect(back.byteLength).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
  });

  it('writes small and empty files, and writeFile, identical to the local sink', async () => {
    const small = new TextEncoder().encode('{"rows": 3}\n');
    const local = new LocalSink(path.join(tmp, `local-${kind}`));
    const remote = b().sink('small');
    for (const sink of [local, remote]) {
      const f = await sink.create('data/train-00000.parquet');
      await f.write(small.subarray(0, 4));
      await f.write(small.subarray(4));
      expect(await f.commit()).toEqual({ bytes: small.length, sha256: sha(small) });
      const e = await sink.create('empty.bin');
      expect(await e.commit()).toEqual({ bytes: 0, sha256: sha(new Uint8Array(0)) });
      expect(await sink.writeFile('README.md', small)).toEqual({ bytes: small.length, sha256: sha(small) });
    }
    const src = b().source('small');
    expect((await src.list()).map((e) => [e.path, e.size])).toEqual([
      ['README.md', small.length],
      ['data/train-00000.parquet', small.length],
      ['empty.bin', 0],
    ]);
    expect(Buffer.from(await src.read('data/train-00000.parquet'))).toEqual(
      await readFile(path.join(tmp, `local-${kind}`, 'data/train-00000.parquet')),
    );
    expect(remote.describe('README.md')).toBe(`${b().url('small')}README.md`);
  });

  it('abort() leaves nothing under the final key', async () => {
    const sink = b().sink('aborted');
    const f = await sink.create('big.bin');
    const chunk = noise(MiB, 5);
    for (let i = 0; i < 20; i++) await f.write(chunk);
    await eventually('parts staged', () => b().pending('aborted', 'big.bin'));
    await f.abort();
    await f.abort(); // safe twice
    expect(await b().source('aborted').exists('big.bin')).toBe(false);
    expect(await b().source('aborted').list()).toEqual([]);
    if (kind === 's3') expect(await b().pending('aborted', 'big.bin')).toBe(false); // AbortMultipartUpload sent
  });

  it('a process killed mid-upload leaves no object under the final key', async () => {
    const script = path.join(tmp, `killed-${kind}.mts`);
    const sinkModule = path.join(repo, 'src/sink', kind === 's3' ? 's3.ts' : 'azure.ts');
    const sinkClass = kind === 's3' ? 'S3Sink' : 'AzureSink';
    await writeFile(
      script,
      `
import { ${sinkClass} } from ${JSON.stringify(sinkModule)};
const sink = new ${sinkClass}(${JSON.stringify(b().url('killed'))});
const f = await sink.create('shard.tar');
const chunk = new Uint8Array(1024 * 1024).fill(7);
for (let i = 0; i < 20; i++) await f.write(chunk);
process.stdout.write('written\\n');
// Wait until the storage holds a partial upload, then die without any cleanup.
const ready = async () => {
  ${
    kind === 's3'
      ? `const { createRequire } = await import('node:module');
  const { ListMultipartUploadsCommand } = createRequire(${JSON.stringify(path.join(repo, 'package.json'))})('@aws-sdk/client-s3');
  const { s3ClientFor } = await import(${JSON.stringify(path.join(repo, 'src/source/s3.ts'))});
  const r = await s3ClientFor().send(new ListMultipartUploadsCommand({ Bucket: 'out', Prefix: 'killed/' }));
  return (r.Uploads ?? []).length > 0;`
      : `const { blobServiceFor } = await import(${JSON.stringify(path.join(repo, 'src/source/azure.ts'))});
  const r = await blobServiceFor().getContainerClient('out').getBlockBlobClient('killed/shard.tar').getBlockList('uncommitted').catch(() => undefined);
  return (r?.uncommittedBlocks?.length ?? 0) > 0;`
  }
};
while (!(await ready())) await new Promise((r) => setTimeout(r, 50));
process.kill(process.pid, 'SIGKILL');
`,
    );
    const { stdout: out, stderr: err, signal } = await finished(spawnScript(script, [], { cwd: repo, env: b().env() }));
    expect(err.replace(/\(node:\d+\) Warning[\s\S]*$/, '')).toBe('');
    expect(out).toBe('written\n');
    expect(signal).toBe('SIGKILL');
    expect(await b().pending('killed', 'shard.tar')).toBe(true); // it really died mid-upload
    expect(await b().source('killed').exists('shard.tar')).toBe(false);
    expect(await b().source('killed').list()).toEqual([]);
  });
});

describe('sink errors and dispatch', () => {
  it('openSink picks the sink by URL scheme', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, moto.env, azurite.env);
    try {
      expect(await openSink(path.join(tmp, 'x'))).toBeInstanceOf(LocalSink);
      expect(await openSink('s3://out/p/')).toBeInstanceOf(S3Sink);
      expect(await openSink('az://out/p/')).toBeInstanceOf(AzureSink);
      await expect(openSink('https://example.com/x?sig=secret')).rejects.toThrow(UsageError);
      await expect(openSink('https://example.com/x?sig=secret')).rejects.not.toThrow(/secret/);
      // A sink opened from the environment writes where the environment points.
      const s = await openSink('s3://out/env/');
      await s.writeFile('a.txt', new TextEncoder().encode('hi'));
      expect(await new S3Source('s3://out/env/', moto.env).list()).toEqual([{ path: 'a.txt', size: 2 }]);
    } finally {
      process.env = saved;
    }
  });

  it('a missing bucket or container fails the commit with an InputError naming the file', async () => {
    const s3 = new S3Sink('s3://no-such-bucket/p/', moto.env);
    const f = await s3.create('a.bin');
    await f.write(new Uint8Array(10));
    await expect(f.commit()).rejects.toThrow(/^s3:\/\/no-such-bucket\/p\/a\.bin: bucket not found$/);
    await f.abort();
    await expect(s3.writeFile('b.bin', new Uint8Array(3))).rejects.toThrow(InputError);

    const az = new AzureSink('az://nocontainer/p/', azurite.env);
    const g = await az.create('a.bin');
    await g.write(new Uint8Array(10));
    await expect(g.commit()).rejects.toThrow(/^az:\/\/nocontainer\/p\/a\.bin: container not found$/);
    await g.abort();
    await expect(az.writeFile('b.bin', new Uint8Array(3))).rejects.toThrow(/^az:\/\/nocontainer\/p\/b\.bin: container not found$/);
  });
});
