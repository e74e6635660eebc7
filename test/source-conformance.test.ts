/**
 * One conformance suite for every Source: a local directory, S3 (moto_server), Azure Blob (Azurite)
 * and an https signed URL (local Range server), all holding the same small tree. Each must list,
 * size, read (whole and ranges), stream and fail exactly like the local copy.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  generateAccountSASQueryParameters,
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.ts';
import { AzureSource, blobServiceFor } from '../src/source/azure.ts';
import { HttpsSource } from '../src/source/https.ts';
import { openFileUrl, openSource } from '../src/source/open.ts';
import { S3Source, s3ClientFor } from '../src/source/s3.ts';
import type { Source } from '../src/source/types.ts';
import { AZURITE_ACCOUNT, AZURITE_KEY, startAzurite, startMoto, startRangeServer } from './helpers/services.ts';
import type { RangeServer, RunningService } from './helpers/services.ts';
import { noise, sha } from './helpers/bytes.ts';

const SIG = 'secret-signature-0123456789';

const enc = new TextEncoder();
/** The fixture tree, manifest.json excepted (it is derived from these). */
const files: Record<string, Uint8Array> = {
  'data/a.jsonl': enc.encode('{"session_id":"s1","t_ms":0}\n{"session_id":"s1","t_ms":40}\n'),
  'data/big.bin': noise(700_000, 7),
  'data/empty.bin': new Uint8Array(0),
  'frames/x y ä.bin': noise(1234, 99),
};
const manifest = enc.encode(
  JSON.stringify({
    export_id: 'exp_conformance',
    files: Object.entries(files).map(([p, b]) => ({ path: p, bytes: b.byteLength, sha256: sha(b) })),
  }),
);
const all: Record<string, Uint8Array> = { ...files, 'manifest.json': manifest };
const paths = Object.keys(all).sort();

async function collect(it: AsyncIterable<Uint8Array>): Promise<{ bytes: Uint8Array; chunks: number; plain: boolean }> {
  const parts: Uint8Array[] = [];
  let plain = true;
  for await (const c of it) {
    if (!(c instanceof Uint8Array)) plain = false;
    parts.push(c);
  }
  return { bytes: new Uint8Array(Buffer.concat(parts)), chunks: parts.length, plain };
}

let dir: string;
let moto: RunningService;
let azurite: RunningService & { connectionString: string };
let rangeServer: RangeServer;
const sources: Record<string, Source> = {};
const savedEnv = { ...process.env };

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nusomi-conformance-'));
  for (const [p, b] of Object.entries(all)) {
    await mkdir(path.dirname(path.join(dir, 'export', p)), { recursive: true });
    await writeFile(path.join(dir, 'export', p), b);
  }
  [moto, azurite, rangeServer] = await Promise.all([startMoto(), startAzurite(), startRangeServer(dir, { signature: SIG })]);
  // openSource reads the real environment, as the CLI does.
  Object.assign(process.env, moto.env, azurite.env);

  const s3 = s3ClientFor(moto.env);
  await s3.send(new CreateBucketCommand({ Bucket: 'conf' }));
  const container = blobServiceFor(azurite.env).getContainerClient('conf');
  await container.create();
  for (const [p, b] of Object.entries(all)) {
    await s3.send(new PutObjectCommand({ Bucket: 'conf', Key: `exp/${p}`, Body: b }));
    await container.getBlockBlobClient(`exp/${p}`).upload(b, b.byteLength);
  }
  // Neighbours that a prefix listing must not pick up.
  for (const key of ['exp2/data/a.jsonl', 'other.txt', 'ex']) {
    await s3.send(new PutObjectCommand({ Bucket: 'conf', Key: key, Body: 'x' }));
    await container.getBlockBlobClient(key).upload('x', 1);
  }

  sources.local = await openSource(path.join(dir, 'export'));
  sources.s3 = await openSource('s3://conf/exp/');
  sources.azure = await openSource('az://conf/exp');
  sources.https = await openSource(rangeServer.signed('export/manifest.json'));
});

afterAll(async () => {
  process.env = savedEnv;
  await Promise.all([moto?.stop(), azurite?.stop(), rangeServer?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(['local', 's3', 'azure', 'https'])('%s source', (kind) => {
  const src = () => sources[kind]!;

  it('opens as the right class for its URL', () => {
    const cls = { local: 'LocalSource', s3: 'S3Source', azure: 'AzureSource', https: 'HttpsSource' }[kind];
    expect(src().constructor.name).toBe(cls);
  });

  it('lists every file, sorted, with sizes equal to the local copy', async () => {
    const list = await src().list();
    expect(list.map((e) => e.path)).toEqual(paths);
    expect(list.map((e) => e.size)).toEqual(paths.map((p) => all[p]!.byteLength));
    if (kind === 'https') {
      expect(list.find((e) => e.path === 'data/big.bin')?.sha256).toBe(sha(files['data/big.bin']!));
    }
  });

  it('lists only what a filter keeps, with the same entries', async () => {
    const keep = (p: string) => p.startsWith('data/');
    const list = await src().list(keep);
    expect(list.map((e) => e.path)).toEqual(paths.filter(keep));
    expect(list.length).toBeGreaterThan(0);
    expect(list.length).toBeLessThan(paths.length);
    expect(list.map((e) => e.size)).toEqual(paths.filter(keep).map((p) => all[p]!.byteLength));
  });

  it('reports exists and size', async () => {
    for (const p of paths) {
      expect(await src().exists(p), p).toBe(true);
      expect(await src().size(p), p).toBe(all[p]!.byteLength);
    }
    expect(await src().exists('data/nope.bin')).toBe(false);
  });

  it('reads whole files byte-identical', async () => {
    for (const p of paths) expect(sha(await src().read(p)), p).toBe(sha(all[p]!));
  });

  it('refuses a whole-file read past maxReadBytes (--max-member-bytes); ranges and small files still read', async () => {
    const root = {
      local: path.join(dir, 'export'),
      s3: 's3://conf/exp/',
      azure: 'az://conf/exp',
      https: rangeServer.signed('export/manifest.json'),
    }[kind]!;
    const bounded = await openSource(root, { maxReadBytes: 100_000 });
    const err = await bounded.read('data/big.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/big\.bin: 700000 bytes, over the limit of 100000 \(--max-member-bytes\)$/);
    expect((err as Error).message).not.toContain(SIG);
    expect((await bounded.read('data/big.bin', { start: 0, end: 200_000 })).byteLength).toBe(200_000);
    expect(sha(await bounded.read('data/a.jsonl'))).toBe(sha(all['data/a.jsonl']!));
    if (bounded.readFrame) await expect(bounded.readFrame('data/big.bin')).rejects.toThrow(/over the limit of 100000/);
  });

  it('reads ranges byte-identical to the local copy', async () => {
    const big = files['data/big.bin']!;
    const ranges = [
      { start: 0, end: 1 },
      { start: 5, end: 17 },
      { start: 100_000, end: 300_001 },
      { start: big.length - 3, end: big.length },
      { start: 0, end: big.length },
      { start: 10, end: 10 },
    ];
    for (const r of ranges) {
      const got = await src().read('data/big.bin', r);
      expect(got.byteLength, JSON.stringify(r)).toBe(r.end - r.start);
      expect(sha(got), JSON.stringify(r)).toBe(sha(big.subarray(r.start, r.end)));
    }
    // Past the end: clipped, as a local file read is.
    expect((await src().read('data/big.bin', { start: big.length - 2, end: big.length + 50 })).byteLength).toBe(2);
    expect((await src().read('data/big.bin', { start: big.length + 5, end: big.length + 50 })).byteLength).toBe(0);
    const name = 'frames/x y ä.bin';
    expect(sha(await src().read(name, { start: 3, end: 40 }))).toBe(sha(files[name]!.subarray(3, 40)));
  });

  it('streams the same bytes as read, as plain Uint8Array chunks', async () => {
    for (const p of paths) {
      const { bytes, plain } = await collect(src().stream(p));
      expect(plain, p).toBe(true);
      expect(sha(bytes), p).toBe(sha(all[p]!));
    }
  });

  it('refuses paths that climb out of the root', async () => {
    for (const bad of ['../exp2/data/a.jsonl', 'data/../../other.txt']) {
      await expect(src().read(bad), bad).rejects.toThrow(InputError);
      await expect(src().read(bad), bad).rejects.toThrow(/path escapes the export root/);
    }
  });

  it('names the full location of a missing file in an InputError', async () => {
    const missing = 'data/missing.parquet';
    const full = src().describe(missing);
    const expected = {
      local: path.join(dir, 'export', missing),
      s3: 's3://conf/exp/data/missing.parquet',
      azure: 'az://conf/exp/data/missing.parquet',
      https: `${rangeServer.base}export/data/missing.parquet`,
    }[kind];
    expect(full).toBe(expected);
    for (const attempt of [
      () => src().read(missing),
      () => src().read(missing, { start: 0, end: 10 }),
      () => src().size(missing),
      () => collect(src().stream(missing)),
    ]) {
      const err = await attempt().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(new RegExp(`^${escapeRegExp(full)}: (not found|no such file)`));
      expect((err as Error).message).not.toContain(SIG);
    }
  });
});

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('s3 specifics', () => {
  it('pages through listings longer than one response (1000 keys)', async () => {
    const s3 = s3ClientFor(moto.env);
    const keys = Array.from({ length: 1003 }, (_, i) => `many/k${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((Key) => s3.send(new PutObjectCommand({ Bucket: 'conf', Key, Body: 'v' }))));
    }
    const list = await new S3Source('s3://conf/many/', moto.env).list();
    expect(list.length).toBe(1003);
    expect(list[1002]!.path).toBe('k1002');
  });

  it('a missing bucket is an InputError naming the URL', async () => {
    await expect(new S3Source('s3://no-such-bucket/x/', moto.env).list()).rejects.toThrow(/^s3:\/\/no-such-bucket\/x\/: bucket not found$/);
  });

  it('an unreachable endpoint is an InputError, not a stack trace', async () => {
    const env = { ...moto.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' };
    const err = await new S3Source('s3://conf/exp/', env).read('data/a.jsonl').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^s3:\/\/conf\/exp\/data\/a\.jsonl: cannot reach S3 endpoint http:\/\/127\.0\.0\.1:9/);
    expect((err as Error).message).not.toContain('testing'); // the secret key
  });

  it('an auth failure is an access-denied InputError that does not echo the secret', async () => {
    const strict = await startMoto({ auth: true });
    try {
      const env = { ...strict.env, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWN', AWS_SECRET_ACCESS_KEY: 'very-secret-value' };
      const err = await new S3Source('s3://conf/exp/', env).read('data/a.jsonl').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/^s3:\/\/conf\/exp\/data\/a\.jsonl: access denied \(InvalidAccessKeyId\)/);
      expect((err as Error).message).not.toContain('very-secret-value');
      await expect(new S3Source('s3://conf/exp/', env).list()).rejects.toThrow(/^s3:\/\/conf\/exp\/: access denied/);
    } finally {
      await strict.stop();
    }
  });

  it('openFileUrl reads one object by URL', async () => {
    const { source, path: p } = await openFileUrl('s3://conf/exp/frames/x y ä.bin');
    expect(sha(await source.read(p))).toBe(sha(files['frames/x y ä.bin']!));
  });
});

describe('azure specifics', () => {
  const endpoint = () => azurite.endpoint;

  it('authenticates with account + key, and with a SAS token', async () => {
    const keyEnv = { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: AZURITE_KEY, AZURE_STORAGE_BLOB_ENDPOINT: endpoint() };
    expect(sha(await new AzureSource('az://conf/exp/', keyEnv).read('data/big.bin'))).toBe(sha(files['data/big.bin']!));

    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.UTC(2099, 0, 1)),
        permissions: AccountSASPermissions.parse('rl'),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('b').toString(),
      },
      new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
    ).toString();
    const sasEnv = { AZURE_STORAGE_SAS_TOKEN: sas, AZURE_STORAGE_BLOB_ENDPOINT: endpoint() };
    const viaSas = new AzureSource('az://conf/exp/', sasEnv);
    expect((await viaSas.list()).map((e) => e.path)).toEqual(paths);
    const err = await viaSas.read('data/missing.bin').catch((e: unknown) => e);
    expect((err as Error).message).toBe('az://conf/exp/data/missing.bin: not found');
  });

  it('a wrong key is an access-denied InputError that does not echo the key', async () => {
    const wrongKey = Buffer.from('not-the-real-key-not-the-real-key').toString('base64');
    const env = { AZURE_STORAGE_ACCOUNT: AZURITE_ACCOUNT, AZURE_STORAGE_KEY: wrongKey, AZURE_STORAGE_BLOB_ENDPOINT: endpoint() };
    const err = await new AzureSource('az://conf/exp/', env).read('data/a.jsonl').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/^az:\/\/conf\/exp\/data\/a\.jsonl: access denied/);
    expect((err as Error).message).not.toContain(wrongKey);
  });

  it('a missing container is an InputError naming the URL', async () => {
    await expect(new AzureSource('az://nocontainer/p/', azurite.env).list()).rejects.toThrow(
      /^az:\/\/nocontainer\/p\/: container not found$/,
    );
    await expect(new AzureSource('az://nocontainer/p/', azurite.env).read('x')).rejects.toThrow(
      /^az:\/\/nocontainer\/p\/x: container not found$/,
    );
  });

  it('no credentials at all is a usage error saying which variables to set', () => {
    expect(() => new AzureSource('az://conf/exp/', {})).toThrow(/AZURE_STORAGE_CONNECTION_STRING/);
  });
});

describe('https specifics', () => {
  it('rejects a bad signature with 403, naming the URL without its query', async () => {
    const bad = rangeServer.signed('export/manifest.json').replace(SIG, 'forged');
    const err = await new HttpsSource(bad).list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `${rangeServer.base}export/manifest.json: access denied (HTTP 403): the signed URL may be wrong or expired`,
    );
    expect((err as Error).message).not.toContain('forged');
  });

  it('sends the manifest signature with every file request and uses Range', async () => {
    const before = rangeServer.requests.length;
    await sources.https!.read('data/big.bin', { start: 10, end: 20 });
    expect(rangeServer.requests.slice(before)).toEqual(['GET /export/data/big.bin bytes=10-19']);
  });

  it('requires the manifest to name its files', async () => {
    await writeFile(path.join(dir, 'nofiles.json'), JSON.stringify({ export_id: 'x', rows: 3 }));
    const err = await new HttpsSource(rangeServer.signed('nofiles.json')).list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /nofiles\.json: an export read over https cannot be listed, so its manifest must name its files/,
    );
    expect((err as Error).message).not.toContain(SIG);
  });

  it('uses a file entry’s own url verbatim and resolves relative paths against the manifest', async () => {
    await mkdir(path.join(dir, 'elsewhere'), { recursive: true });
    await writeFile(
      path.join(dir, 'elsewhere', 'manifest.json'),
      JSON.stringify({
        files: [
          { path: 'shard.bin', url: rangeServer.signed('export/data/big.bin') },
          { url: rangeServer.signed('export/data/a.jsonl') },
          { path: '../export/frames/x y ä.bin' },
        ],
      }),
    );
    const src = new HttpsSource(rangeServer.signed('elsewhere/manifest.json'), { allowRemote: ['127.0.0.1'] });
    const err = await src.list().catch((e: unknown) => e);
    // A relative path may not climb out of the manifest's folder.
    expect((err as Error).message).toMatch(/path escapes the export root/);

    await writeFile(
      path.join(dir, 'elsewhere', 'manifest.json'),
      JSON.stringify({
        files: [{ path: 'shard.bin', url: rangeServer.signed('export/data/big.bin') }, { url: rangeServer.signed('export/data/a.jsonl') }],
      }),
    );
    // Own URLs outside the manifest's folder are refused unless their host is allowed.
    const refused = await new HttpsSource(rangeServer.signed('elsewhere/manifest.json')).list().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InputError);
    expect((refused as Error).message).toMatch(
      /elsewhere\/manifest\.json: files\[0\]: file URL http:\/\/127\.0\.0\.1:\d+\/export\/data\/big\.bin is outside the export root \(host 127\.0\.0\.1:\d+\); pass --allow-remote-frames 127\.0\.0\.1/,
    );
    expect((refused as Error).message).not.toContain(SIG);
    const ok = new HttpsSource(rangeServer.signed('elsewhere/manifest.json'), { allowRemote: ['127.0.0.1'] });
    expect((await ok.list()).map((e) => e.path)).toEqual(['export/data/a.jsonl', 'manifest.json', 'shard.bin']);
    expect(sha(await ok.read('shard.bin', { start: 0, end: 5000 }))).toBe(sha(files['data/big.bin']!.subarray(0, 5000)));
    expect(sha(await ok.read('export/data/a.jsonl'))).toBe(sha(files['data/a.jsonl']!));
    expect(ok.describe('shard.bin')).toBe(`${rangeServer.base}export/data/big.bin`);
  });

  it('refuses a server that answers a range request with the whole file', async () => {
    const body = files['data/big.bin']!;
    const naive = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(body.length) }).end(body);
    });
    await new Promise<void>((r) => naive.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `http://127.0.0.1:${(naive.address() as AddressInfo).port}/f/big.bin?sig=abc`;
      const { source, path: p } = await openFileUrl(url);
      const err = await source.read(p, { start: 100, end: 200 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(/big\.bin: the server ignored the Range request \(HTTP 200, expected 206\)/);
      expect((err as Error).message).not.toContain('sig=');
    } finally {
      naive.closeAllConnections();
      await new Promise<void>((r) => naive.close(() => r()));
    }
  });
});
