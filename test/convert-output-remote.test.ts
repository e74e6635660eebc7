/**
 * `--out s3://…` (moto_server) and `--out az://…` (Azurite) across runs: one convert at a time
 * (S3 conditional create, Azure blob lease), a re-convert leaves exactly the new manifest's files
 * under the prefix, and the unfinished uploads of a killed run (S3 multipart uploads, Azure
 * uncommitted blocks) are discarded by the next run. Azure block ids are unique per upload, so two
 * uploads of one blob never mix.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { AzureSink } from '../src/sink/azure.ts';
import { blobServiceFor } from '../src/source/azure.ts';
import { s3ClientFor } from '../src/source/s3.ts';
import { SAMPLE, SPLIT3, SPLIT3_ROWS, runCli, tempDir } from './convert-fixtures.ts';
import { scriptOk, spawnCli } from './helpers/cli.ts';
import { runPython } from './helpers/python.ts';
import { startAzurite, startMoto } from './helpers/services.ts';
import type { RunningService } from './helpers/services.ts';

let moto: RunningService;
let azurite: RunningService;
let s3: S3Client;
let container: ContainerClient;
let work = '';
let big = '';
let hfHome = '';
const BIG_ROWS = 140;
/** The large export as one ~20 MB WebDataset shard: several 8 MiB parts / blocks. */
const BIG_WDS = ['--formats', 'webdataset', '--split', 'train=1', '--min-shards', '1', '--shard-bytes', '1GB'];
/** Many small shards, then the defaults: the second layout has other names (`-of-N`, tar numbers). */
const SMALL_SHARDS = ['--formats', 'parquet,webdataset', ...SPLIT3, '--max-shard-bytes', '1MB', '--shard-samples', '5'];
const DEFAULT_SHARDS = ['--formats', 'parquet', ...SPLIT3];

beforeAll(async () => {
  work = await tempDir('nusomi-output-remote-');
  big = path.join(work, 'big-export');
  hfHome = path.join(work, 'hf-home');
  const made = scriptOk('scripts/make-samples.ts', ['--sessions', '2', '--steps', '70', '--format', 'jsonl', '--out', big]);
  const [m, a] = await Promise.all([startMoto(), startAzurite(), made]);
  moto = m;
  azurite = a;
  s3 = s3ClientFor(moto.env);
  await s3.send(new CreateBucketCommand({ Bucket: 'outs' }));
  container = blobServiceFor(azurite.env).getContainerClient('outs');
  await container.create();
}, 180_000);
afterAll(async () => {
  await Promise.all([moto?.stop(), azurite?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

function startConvert(input: string, out: string, args: string[], env: Record<string, string>) {
  const child: ChildProcess = spawnCli(['convert', input, '--out', out, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  return { child, exited };
}

async function waitFor(probe: () => Promise<boolean>, done: Promise<unknown>): Promise<boolean> {
  let finished = false;
  void done.then(() => {
    finished = true;
  });
  while (!finished) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

async function s3Keys(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: 'outs', Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) keys.push(o.Key!.slice(prefix.length));
    token = r.NextContinuationToken;
  } while (token);
  return keys.sort();
}

async function azNames(prefix: string, uncommitted = false): Promise<string[]> {
  const names: string[] = [];
  for await (const b of container.listBlobsFlat({ prefix, includeUncommitedBlobs: uncommitted })) names.push(b.name.slice(prefix.length));
  return names.sort();
}

/** Copies every object under the prefix into a local folder (to load it with datasets). */
async function download(kind: 's3' | 'az', prefix: string, names: string[], dir: string): Promise<void> {
  for (const n of names) {
    const bytes =
      kind === 's3'
        ? await (await s3.send(new GetObjectCommand({ Bucket: 'outs', Key: prefix + n }))).Body!.transformToByteArray()
        : new Uint8Array(await container.getBlockBlobClient(prefix + n).downloadToBuffer());
    await mkdir(path.dirname(path.join(dir, n)), { recursive: true });
    await writeFile(path.join(dir, n), bytes);
  }
}

async function loadCounts(dir: string): Promise<Record<string, number>> {
  return runPython<Record<string, number>>(
    'import datasets, json, sys\ndd = datasets.load_dataset(sys.argv[1])\nprint(json.dumps({k: v.num_rows for k, v in dd.items()}))',
    { args: [dir], env: { HF_HOME: hfHome } },
  );
}

function manifestOf(bytes: Uint8Array): DatasetManifest {
  return JSON.parse(new TextDecoder().decode(bytes)) as DatasetManifest;
}

/** The holder of a lock taken while a run still lives. */
const THIEF = { pid: 424242, host: 'elsewhere', since: '2026-01-01T00:00:00.000Z', token: '0123456789abcdef' };

const BACKENDS = [
  {
    kind: 's3' as const,
    url: (p: string) => `s3://outs/${p}/`,
    env: () => moto.env,
    names: (p: string) => s3Keys(`${p}/`),
    locked: async (p: string) =>
      s3.send(new HeadObjectCommand({ Bucket: 'outs', Key: `${p}/.nusomi-lock` })).then(
        () => true,
        () => false,
      ),
    holder: async (p: string) =>
      s3.send(new GetObjectCommand({ Bucket: 'outs', Key: `${p}/.nusomi-lock` })).then(
        async (r) => (JSON.parse(await r.Body!.transformToString()) as { pid: number }).pid,
        () => undefined,
      ),
    put: async (key: string) => {
      await s3.send(new PutObjectCommand({ Bucket: 'outs', Key: key, Body: "not convert's" }));
    },
    /** What a user following "delete the lock" while the run lives, then another run, do: returns the undo. */
    steal: async (p: string) => {
      const Key = `${p}/.nusomi-lock`;
      await s3.send(new DeleteObjectCommand({ Bucket: 'outs', Key }));
      await s3.send(new PutObjectCommand({ Bucket: 'outs', Key, Body: JSON.stringify(THIEF) + '\n' }));
      return async () => {
        await s3.send(new DeleteObjectCommand({ Bucket: 'outs', Key }));
      };
    },
  },
  {
    kind: 'az' as const,
    url: (p: string) => `az://outs/${p}/`,
    env: () => azurite.env,
    names: (p: string) => azNames(`${p}/`),
    locked: async (p: string) =>
      container
        .getBlockBlobClient(`${p}/.nusomi-lock`)
        .getProperties()
        .then(
          (r) => r.leaseState === 'leased',
          () => false,
        ),
    holder: async (p: string) =>
      container
        .getBlockBlobClient(`${p}/.nusomi-lock`)
        .getProperties()
        .then(
          (r) => (r.leaseState === 'leased' && r.metadata?.pid ? Number(r.metadata.pid) : undefined),
          () => undefined,
        ),
    put: async (key: string) => {
      await container.getBlockBlobClient(key).upload("not convert's", 13);
    },
    /** The lease broken and taken by another run (as an operator's `break-lease` would allow): returns the undo. */
    steal: async (p: string) => {
      const blob = container.getBlockBlobClient(`${p}/.nusomi-lock`);
      await blob.getBlobLeaseClient().breakLease(0);
      const lease = blob.getBlobLeaseClient();
      await lease.acquireLease(60);
      await blob.setMetadata(
        { pid: String(THIEF.pid), host: THIEF.host, since: THIEF.since, token: THIEF.token },
        { conditions: { leaseId: lease.leaseId } },
      );
      return async () => {
        await blob.delete({ conditions: { leaseId: lease.leaseId } });
      };
    },
  },
];

describe.each(BACKENDS)('convert --out $kind://', (b) => {
  it('a second convert of the same prefix fails at once naming the holder; the first completes, validates and loads', async () => {
    const out = b.url('conc');
    const a = startConvert(big, out, ['--split', 'train=1'], b.env());
    // Stopped only once its holder record is written: on Azure the lease comes a moment before the
    // metadata naming it, and a run stopped in between is honestly "an unknown process".
    const named = await waitFor(async () => (await b.holder('conc')) === a.child.pid, a.exited);
    expect(named, 'the first convert never took its lock').toBe(true);
    a.child.kill('SIGSTOP');
    try {
      const second = await runCli(['convert', SAMPLE, '--out', out, ...SPLIT3], b.env());
      expect(second.code).toBe(1);
      expect(second.stderr.trim().split('\n')).toHaveLength(1);
      expect(second.stderr).toContain(`--out ${out} is being written by another convert (pid ${a.child.pid} on host ${os.hostname()}`);
    } finally {
      a.child.kill('SIGCONT');
    }
    const done = await a.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(await b.locked('conc')).toBe(false);
    const v = await runCli(['validate', out], b.env());
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const names = await b.names('conc');
    expect(names).not.toContain('.nusomi-lock');
    const dir = path.join(work, `${b.kind}-conc`);
    await download(b.kind, 'conc/', names, dir);
    expect(await loadCounts(dir)).toEqual({ train: BIG_ROWS });
  }, 180_000);

  it('SIGTERM releases the lock at once (the next run needs no takeover)', async () => {
    const out = b.url('termed');
    const a = startConvert(big, out, ['--split', 'train=1'], b.env());
    expect(await waitFor(() => b.locked('termed'), a.exited)).toBe(true);
    a.child.kill('SIGTERM');
    expect((await a.exited).signal).toBe('SIGTERM');
    expect(await b.locked('termed')).toBe(false);
    expect(await b.names('termed')).not.toContain('.nusomi-lock');
  }, 120_000);

  it('a prefix holding objects convert did not write is refused before anything is deleted; so is one with an empty segment', async () => {
    const foreign = ['notes.txt', 'logs/app.log', 'data/customer.csv'];
    for (const f of foreign) await b.put(`shared/${f}`);
    const r = await runCli(['convert', SAMPLE, '--out', b.url('shared'), ...SPLIT3], b.env());
    expect(r.code, r.stderr).toBe(2);
    // A usage error: one line, then the pointer to --help.
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^nusomi-hf: error: /), "(see 'nusomi-hf convert --help')"]);
    expect(r.stderr).toContain(`--out ${b.url('shared')} holds objects convert did not write (logs, notes.txt)`);
    // Before the fix the run swept data/customer.csv as "a file of an earlier run".
    expect(await b.names('shared')).toEqual([...foreign].sort());

    const doubled = `${b.url('twice')}/`;
    const d = await runCli(['convert', SAMPLE, '--out', doubled, ...SPLIT3], b.env());
    expect(d.code, d.stderr).toBe(2);
    expect(d.stderr).toContain('empty path segment');
    expect(await b.names('twice')).toEqual([]);
  }, 60_000);

  it('a prefix holding another dataset under data/ (s3://b/p/ and s3://b/p/data/) is refused, not swept', async () => {
    const inner = await runCli(['convert', SAMPLE, '--out', b.url('outer/data'), ...SPLIT3], b.env());
    expect(inner.code, inner.stderr).toBe(0);
    const before = await b.names('outer');
    const r = await runCli(['convert', SAMPLE, '--out', b.url('outer'), ...SPLIT3], b.env());
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([
      `nusomi-hf: error: --out ${b.url('outer')} holds another dataset or a running convert at ${b.url('outer/data')}, which this convert would delete; choose a prefix that holds neither`,
      "(see 'nusomi-hf convert --help')",
    ]);
    expect(await b.names('outer')).toEqual(before);
  }, 60_000);

  it('a run whose lock was taken by another mid-run writes no manifest, sweeps nothing and exits 1', async () => {
    const first = await runCli(['convert', SAMPLE, '--out', b.url('stolen'), ...SPLIT3], b.env());
    expect(first.code, first.stderr).toBe(0);
    await b.put('stolen/data/train-00000-of-00009.parquet');
    const a = startConvert(big, b.url('stolen'), ['--split', 'train=1'], b.env());
    // The old manifest goes when the run, past its lock, starts writing.
    expect(await waitFor(async () => !(await b.names('stolen')).includes('dataset-manifest.json'), a.exited)).toBe(true);
    expect(await b.holder('stolen')).toBe(a.child.pid);
    a.child.kill('SIGSTOP');
    let undo: (() => Promise<void>) | undefined;
    try {
      undo = await b.steal('stolen');
    } finally {
      a.child.kill('SIGCONT');
    }
    const done = await a.exited;
    try {
      expect(done.code, done.stderr).toBe(1);
      expect(done.stderr).toContain(
        `this convert lost its lock ${b.url('stolen')}.nusomi-lock (it is now held by pid ${THIEF.pid} on host ${THIEF.host}`,
      );
      const names = await b.names('stolen');
      // No manifest: the prefix reads as incomplete until the lock's holder finishes; nothing swept.
      expect(names).not.toContain('dataset-manifest.json');
      expect(names).toContain('data/train-00000-of-00009.parquet');
      expect(await b.locked('stolen')).toBe(true);
    } finally {
      await undo?.();
    }
  }, 180_000);

  it("re-converting with other shard sizes leaves exactly the new manifest's files under the prefix", async () => {
    const out = b.url('reshard');
    // A sibling whose name extends this prefix: never listed, never swept.
    await b.put('reshard0/data/train-00000-of-00009.parquet');
    const first = await runCli(['convert', SAMPLE, '--out', out, ...SMALL_SHARDS], b.env());
    expect(first.code, first.stderr).toBe(0);
    const before = await b.names('reshard');
    expect(before.filter((n) => n.startsWith('data/train-')).length).toBeGreaterThan(1);
    expect(before.some((n) => n.startsWith('webdataset/'))).toBe(true);

    // A snapshot of a stale shard (Azure refuses to delete a blob that has them unless told to).
    if (b.kind === 'az') await container.getBlockBlobClient(`reshard/${before.find((n) => n.startsWith('data/train-'))!}`).createSnapshot();
    const second = await runCli(['convert', SAMPLE, '--out', out, ...DEFAULT_SHARDS], b.env());
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('of an earlier run that the new manifest does not list');
    const names = await b.names('reshard');
    const dir = path.join(work, `${b.kind}-reshard`);
    await download(b.kind, 'reshard/', names, dir);
    const manifest = manifestOf(new Uint8Array(await readFile(path.join(dir, 'dataset-manifest.json'))));
    expect(names).toEqual([...manifest.files.map((f) => f.path), 'README.md', 'dataset-manifest.json'].sort());
    expect(names.filter((n) => n.startsWith('data/'))).toEqual([
      'data/test-00000-of-00001.parquet',
      'data/train-00000-of-00001.parquet',
      'data/validation-00000-of-00001.parquet',
    ]);
    expect(await loadCounts(dir)).toEqual(SPLIT3_ROWS);
    expect(await b.names('reshard0')).toEqual(['data/train-00000-of-00009.parquet']);
  }, 180_000);
});

describe('convert --out s3:// after a killed run', () => {
  it("the next run aborts the killed run's multipart upload and takes over its lock", async () => {
    const out = 's3://outs/killed/';
    const a = startConvert(big, out, BIG_WDS, moto.env);
    let upload: { Key: string; UploadId: string } | undefined;
    const inFlight = async (): Promise<Array<{ Key: string; UploadId: string }>> => {
      const found = [];
      const ups = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'outs', Prefix: 'killed/' }));
      for (const u of ups.Uploads ?? []) {
        const parts = await s3.send(new ListPartsCommand({ Bucket: 'outs', Key: u.Key!, UploadId: u.UploadId! }));
        if ((parts.Parts ?? []).length > 0) found.push({ Key: u.Key!, UploadId: u.UploadId! });
      }
      return found;
    };
    const seen = await waitFor(async () => {
      if ((await inFlight()).length === 0) return false;
      // Stopped, then looked at again: an upload still unfinished now stays unfinished when killed
      // (between the first look and the kill it could complete on a busy machine).
      a.child.kill('SIGSTOP');
      upload = (await inFlight())[0];
      if (!upload) a.child.kill('SIGCONT');
      return upload !== undefined;
    }, a.exited);
    a.child.kill('SIGKILL');
    expect(seen, 'convert finished before an upload was seen in flight').toBe(true);
    expect((await a.exited).signal).toBe('SIGKILL');
    expect(await s3Keys('killed/')).toContain('.nusomi-lock');

    // Another layout: the killed upload's key is not written again, so only the sweep can end it.
    const r = await runCli(['convert', SAMPLE, '--out', out, ...DEFAULT_SHARDS], moto.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('took over the lock');
    expect(r.stderr).toContain(`discarded 1 unfinished upload a killed run left under ${out}: ${upload!.Key.slice('killed/'.length)}`);
    expect((await s3.send(new ListMultipartUploadsCommand({ Bucket: 'outs', Prefix: 'killed/' }))).Uploads ?? []).toEqual([]);
    const names = await s3Keys('killed/');
    expect(names).not.toContain('.nusomi-lock');
    expect(names.every((n) => n === 'README.md' || n === 'dataset-manifest.json' || n.startsWith('data/'))).toBe(true);
  }, 180_000);

  it('a lock object whose holder is alive on this host is respected; an unreadable one is never taken over', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: 'outs',
        Key: 'held/.nusomi-lock',
        Body: JSON.stringify({ pid: process.pid, host: os.hostname(), since: 'x', token: 'ab' }),
      }),
    );
    const r = await runCli(['convert', SAMPLE, '--out', 's3://outs/held/', ...SPLIT3], moto.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`(pid ${process.pid} on host ${os.hostname()}`);
    await s3.send(new PutObjectCommand({ Bucket: 'outs', Key: 'held/.nusomi-lock', Body: 'not a lock record' }));
    const u = await runCli(['convert', SAMPLE, '--out', 's3://outs/held/', ...SPLIT3], moto.env);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain('being written by another convert (an unknown process)');
    expect(await s3Keys('held/')).toEqual(['.nusomi-lock']);
    // Empty (a ranged read of it is 416) and oversized objects are no records either: one line, exit 1.
    for (const body of [new Uint8Array(0), new Uint8Array(1 << 20).fill(0x7b)]) {
      await s3.send(new PutObjectCommand({ Bucket: 'outs', Key: 'held/.nusomi-lock', Body: body }));
      const e = await runCli(['convert', SAMPLE, '--out', 's3://outs/held/', ...SPLIT3], moto.env);
      expect(e.code, e.stderr).toBe(1);
      expect(e.stderr.trim().split('\n')).toEqual([expect.stringContaining('being written by another convert (an unknown process)')]);
    }
    expect(await s3Keys('held/')).toEqual(['.nusomi-lock']);
  }, 60_000);
});

describe('convert --out az:// after a killed run', () => {
  it('the next run discards the blocks the killed run staged, and takes over its lease', async () => {
    const out = 'az://outs/killed/';
    const a = startConvert(big, out, BIG_WDS, azurite.env);
    const shard = container.getBlockBlobClient('killed/webdataset/train-000000.tar');
    const seen = await waitFor(
      async () => ((await shard.getBlockList('uncommitted').catch(() => undefined))?.uncommittedBlocks?.length ?? 0) > 0,
      a.exited,
    );
    a.child.kill('SIGKILL');
    expect(seen, 'convert finished before a block was seen staged').toBe(true);
    expect((await a.exited).signal).toBe('SIGKILL');
    expect(await azNames('killed/', true)).toContain('webdataset/train-000000.tar');

    const r = await runCli(['convert', SAMPLE, '--out', out, ...DEFAULT_SHARDS], azurite.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('took over the lock');
    expect(r.stderr).toContain(`discarded 1 unfinished upload a killed run left under ${out}: webdataset/train-000000.tar`);
    // Nothing is left but the committed new dataset: no blob of uncommitted blocks, no lock.
    const committed = await azNames('killed/');
    expect(await azNames('killed/', true)).toEqual(committed);
    expect(committed.every((n) => n === 'README.md' || n === 'dataset-manifest.json' || n.startsWith('data/'))).toBe(true);
  }, 180_000);

  it('two uploads of one blob never mix: each commits only its own blocks', async () => {
    const sink = new AzureSink('az://outs/blocks/', azurite.env);
    const size = 8 * 1024 * 1024 + 1; // one full block, and a 1-byte block staged at commit
    const blob = container.getBlockBlobClient('blocks/data/x.bin');
    /** Waits until `n` uncommitted blocks are stored, or 5 s (blocks sharing an id count once). */
    const staged = async (n: number) => {
      for (let i = 0; i < 250; i++) {
        if (((await blob.getBlockList('uncommitted').catch(() => undefined))?.uncommittedBlocks?.length ?? 0) >= n) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const a = await sink.create('data/x.bin');
    const b = await sink.create('data/x.bin');
    await a.write(new Uint8Array(size).fill(0x61));
    await staged(1);
    await b.write(new Uint8Array(size).fill(0x62));
    await staged(2); // b's first block is stored too (under a's id, if ids were shared)
    await a.commit();
    const got = await blob.downloadToBuffer();
    expect(got.length).toBe(size);
    expect(
      got.every((x) => x === 0x61),
      'the committed blob holds bytes of the other upload',
    ).toBe(true);
    // Committing a's list discards b's staged blocks; b either fails or commits its own bytes whole.
    const bCommitted = await b.commit().then(
      () => true,
      () => false,
    );
    const after = await blob.downloadToBuffer();
    expect(after.every((x) => x === (bCommitted ? 0x62 : 0x61))).toBe(true);
  }, 60_000);
});
