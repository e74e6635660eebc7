/**
 * Xet on the local Hub server with both official clients in their default configuration (no
 * HF_HUB_DISABLE_XET; @huggingface/hub's default useXet), and the CAS refusing corrupt, truncated
 * and mismatching xorbs and shards with 4xx while nothing of them becomes visible.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo, downloadFile, uploadFiles } from '@huggingface/hub';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { aggregatedHash, chunkHash, fileHash, verificationHash, xetHex, type HashAndSize } from '../src/hub/xet-hash.ts';
import { noise, testToken } from './helpers/bytes.ts';
import { runPython } from './helpers/python.ts';

const WRITE = testToken();
const READ = testToken();
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** A xorb of uncompressed chunks (scheme 0) and its hash, made here to feed the CAS hostile variants. */
function makeXorb(chunks: Uint8Array[]): { body: Uint8Array; hash: string; leaves: HashAndSize[] } {
  const parts: Uint8Array[] = [];
  const leaves: HashAndSize[] = [];
  for (const c of chunks) {
    const h = new Uint8Array(8);
    h[1] = c.length & 0xff;
    h[2] = (c.length >> 8) & 0xff;
    h[3] = c.length >> 16;
    h[5] = h[1];
    h[6] = h[2];
    h[7] = h[3];
    parts.push(h, c);
    leaves.push({ hash: chunkHash(c), size: c.length });
  }
  return { body: Buffer.concat(parts), hash: xetHex(aggregatedHash(leaves)), leaves };
}

const TAG = [
  72, 70, 82, 101, 112, 111, 77, 101, 116, 97, 68, 97, 116, 97, 0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209,
  74, 169,
];

/** A footerless upload shard with one file made of all chunks of one xorb. */
function makeShard(
  xorb: { hash: string; leaves: HashAndSize[] },
  opts: { sha?: string; fileHash?: Uint8Array; verification?: Uint8Array } = {},
): Uint8Array {
  const b = Buffer.alloc(48 * 7);
  Buffer.from(TAG).copy(b, 0);
  b.writeBigUInt64LE(2n, 32);
  const raw = (hex: string): Buffer => {
    const out = Buffer.alloc(32);
    for (let w = 0; w < 32; w += 8)
      for (let i = 0; i < 8; i++) out[w + 7 - i] = Number.parseInt(hex.slice(2 * (w + i), 2 * (w + i) + 2), 16);
    return out;
  };
  let at = 48;
  Buffer.from(opts.fileHash ?? fileHash(xorb.leaves)).copy(b, at);
  b.writeUInt32LE(0xc0000000, at + 32);
  b.writeUInt32LE(1, at + 36);
  at += 48;
  raw(xorb.hash).copy(b, at);
  b.writeUInt32LE(
    xorb.leaves.reduce((n, l) => n + l.size, 0),
    at + 36,
  );
  b.writeUInt32LE(0, at + 40);
  b.writeUInt32LE(xorb.leaves.length, at + 44);
  at += 48;
  Buffer.from(opts.verification ?? verificationHash(xorb.leaves.map((l) => l.hash))).copy(b, at);
  at += 48;
  raw(opts.sha ?? '0'.repeat(64)).copy(b, at);
  at += 48;
  b.fill(0xff, at, at + 32); // file section bookend
  at += 48;
  b.fill(0xff, at, at + 32); // xorb section bookend (no new xorbs listed)
  return b;
}

describe('local Hub server speaks Xet', () => {
  let tmp: string;
  let server: HubServer;
  const requests: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'hub-xet-'));
    server = await startHubServer({
      dir: path.join(tmp, 'hub'),
      tokens: [
        { token: WRITE, role: 'write' },
        { token: READ, role: 'read' },
      ],
      log: (l) => requests.push(l),
    });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  async function casToken(repo: string, kind: 'read' | 'write', token = WRITE): Promise<{ accessToken: string; casUrl: string }> {
    const r = await fetch(`${server.url}/api/datasets/${repo}/xet-${kind}-token/main`, { headers: { Authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
    return (await r.json()) as { accessToken: string; casUrl: string };
  }

  it('huggingface_hub with hf_xet (default install, no env switch): upload_folder, create_commit, create_tag, snapshot_download, load_dataset(revision=tag)', async () => {
    const src = path.join(tmp, 'py-src');
    await mkdir(path.join(src, 'data'), { recursive: true });
    const before = server.stats();
    const out = await runPython(
      `
import hashlib, json, os, sys
import pyarrow as pa, pyarrow.parquet as pq
from huggingface_hub import HfApi, CommitOperationAdd, snapshot_download
import datasets
src, down = sys.argv[1], sys.argv[2]
pq.write_table(pa.table({'step': list(range(3000)), 'action': ['click'] * 3000}), os.path.join(src, 'data', 'train-00000-of-00001.parquet'))
open(os.path.join(src, 'data', 'blob.bin'), 'wb').write(os.urandom(300000))
open(os.path.join(src, 'README.md'), 'w').write('---\\nconfigs:\\n- config_name: default\\n  data_files:\\n  - split: train\\n    path: data/train-*.parquet\\n---\\n# xet\\n')
api = HfApi()
api.create_repo('acme/xet-py', repo_type='dataset')
api.upload_folder(folder_path=src, repo_id='acme/xet-py', repo_type='dataset')
extra = os.urandom(200000)
api.create_commit('acme/xet-py', repo_type='dataset', commit_message='extra', operations=[CommitOperationAdd('data/extra.bin', extra)])
api.create_tag('acme/xet-py', tag='v1', repo_type='dataset')
api.upload_file(path_or_fileobj=b'after the tag\\n' * 1000, path_in_repo='data/later.bin', repo_id='acme/xet-py', repo_type='dataset')
snapshot_download('acme/xet-py', repo_type='dataset', revision='v1', local_dir=down)
ds = datasets.load_dataset('acme/xet-py', revision='v1', split='train')
print(json.dumps({'rows': ds.num_rows, 'last': ds[-1]['step'], 'extra': hashlib.sha256(extra).hexdigest()}))
`,
      {
        args: [src, path.join(tmp, 'py-down')],
        env: {
          HF_ENDPOINT: server.url,
          HF_TOKEN: WRITE,
          HF_HOME: path.join(tmp, 'py-home'),
          HF_HUB_OFFLINE: '0',
          HF_DATASETS_OFFLINE: '0',
          HF_HUB_DISABLE_PROGRESS_BARS: '1',
          HF_DATASETS_DISABLE_PROGRESS_BARS: '1',
        },
      },
    );
    const got = out as { rows: number; last: number; extra: string };
    expect(got.rows).toBe(3000);
    expect(got.last).toBe(2999);
    for (const p of ['data/train-00000-of-00001.parquet', 'data/blob.bin', 'README.md']) {
      expect(sha256(await readFile(path.join(tmp, 'py-down', p)))).toBe(sha256(await readFile(path.join(src, p))));
    }
    expect(sha256(await readFile(path.join(tmp, 'py-down', 'data/extra.bin')))).toBe(got.extra);
    // The tag does not see the later file, and the bytes went over Xet, not LFS.
    await expect(readFile(path.join(tmp, 'py-down', 'data/later.bin'))).rejects.toThrow();
    const after = server.stats();
    expect(after.lfsBytesReceived - before.lfsBytesReceived).toBe(0);
    expect(after.xetBytesReceived - before.xetBytesReceived).toBeGreaterThan(500000);
    expect(requests.some((l) => /^GET \/api\/datasets\/acme\/xet-py\/xet-write-token\/main 200$/.test(l))).toBe(true);
    expect(requests.some((l) => /^GET \/_xet\/v[12]\/reconstructions\/[0-9a-f]{64} 200$/.test(l))).toBe(true);

    // Plain HTTP clients (curl, a non-Xet datasets) get the bytes, with Range, decoded from the xorbs.
    const blob = await readFile(path.join(src, 'data/blob.bin'));
    const head = await fetch(`${server.url}/datasets/acme/xet-py/resolve/v1/data/blob.bin`, { method: 'HEAD' });
    expect(head.headers.get('x-xet-hash')).toMatch(/^[0-9a-f]{64}$/);
    expect(head.headers.get('link')).toContain('rel="xet-auth"');
    expect(head.headers.get('x-linked-etag')).toBe(`"${sha256(blob)}"`);
    const whole = await fetch(`${server.url}/datasets/acme/xet-py/resolve/v1/data/blob.bin`);
    expect(sha256(new Uint8Array(await whole.arrayBuffer()))).toBe(sha256(blob));
    const part = await fetch(`${server.url}/datasets/acme/xet-py/resolve/v1/data/blob.bin`, { headers: { Range: 'bytes=70000-200001' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 70000-200001/${blob.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(blob.subarray(70000, 200002))).toBe(true);
  }, 240_000);

  it('@huggingface/hub uploads with its default useXet and downloads through the CAS, byte-identical', async () => {
    const repo = { type: 'dataset' as const, name: 'acme/xet-js' };
    await createRepo({ repo, hubUrl: server.url, accessToken: WRITE, private: true });
    const big = noise(700_000, 7);
    const before = server.stats();
    await uploadFiles({
      repo,
      hubUrl: server.url,
      accessToken: WRITE,
      files: [
        { path: 'data/big.parquet', content: new Blob([big]) },
        { path: 'notes.txt', content: new Blob(['hello\n']) },
      ],
    });
    const after = server.stats();
    expect(after.lfsBytesReceived).toBe(before.lfsBytesReceived);
    expect(after.xetBytesReceived - before.xetBytesReceived).toBeGreaterThan(big.length / 2);
    const blob = await downloadFile({ repo, path: 'data/big.parquet', hubUrl: server.url, accessToken: WRITE });
    expect(sha256(new Uint8Array(await blob!.arrayBuffer()))).toBe(sha256(big));
    expect(requests.some((l) => /^GET \/_xet\/v2\/reconstructions\/[0-9a-f]{64} 200$/.test(l))).toBe(true);
    // Re-uploading the same bytes under another name sends no xorb again.
    const again = server.stats();
    await uploadFiles({ repo, hubUrl: server.url, accessToken: WRITE, files: [{ path: 'copy.parquet', content: new Blob([big]) }] });
    expect(server.stats().xorbsStored).toBe(again.xorbsStored);
  }, 120_000);

  it('refuses corrupt, truncated and mismatching xorbs and shards with 4xx; nothing of them becomes visible', async () => {
    await createRepo({ repo: { type: 'dataset', name: 'acme/xet-hostile' }, hubUrl: server.url, accessToken: WRITE });
    const { accessToken, casUrl } = await casToken('acme/xet-hostile', 'write');
    const auth = { Authorization: `Bearer ${accessToken}` };
    const content = [noise(5000, 1), noise(7000, 2), noise(3000, 3)];
    const good = makeXorb(content);
    const post = (url: string, body: Uint8Array, headers: Record<string, string> = auth) =>
      fetch(url, { method: 'POST', body: Buffer.from(body), headers });
    const xorbVisible = async (hash: string) =>
      (await fetch(`${casUrl}/v1/xorbs/default/${hash}`, { method: 'HEAD', headers: auth })).status;

    // A flipped byte, a cut body, a body under another xorb's name, garbage.
    const flipped = Buffer.from(good.body);
    flipped[100] ^= 0xff;
    expect((await post(`${casUrl}/v1/xorbs/default/${good.hash}`, flipped)).status).toBe(400);
    expect((await post(`${casUrl}/v1/xorbs/default/${good.hash}`, good.body.subarray(0, good.body.length - 10))).status).toBe(400);
    const other = makeXorb([noise(4000, 9)]);
    expect((await post(`${casUrl}/v1/xorbs/default/${other.hash}`, good.body)).status).toBe(400);
    expect((await post(`${casUrl}/v1/xorbs/default/${good.hash}`, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))).status).toBe(400);
    expect(await xorbVisible(good.hash)).toBe(404);
    expect(await xorbVisible(other.hash)).toBe(404);
    // No token, a read-scoped token: refused before anything is stored.
    expect((await post(`${casUrl}/v1/xorbs/default/${good.hash}`, good.body, {})).status).toBe(401);
    const read = await casToken('acme/xet-hostile', 'read', READ);
    expect((await post(`${casUrl}/v1/xorbs/default/${good.hash}`, good.body, { Authorization: `Bearer ${read.accessToken}` })).status).toBe(
      403,
    );
    expect(await xorbVisible(good.hash)).toBe(404);
    // A read-only Hub token gets no write token at all.
    expect(
      (await fetch(`${server.url}/api/datasets/acme/xet-hostile/xet-write-token/main`, { headers: { Authorization: `Bearer ${READ}` } }))
        .status,
    ).toBe(403);

    // A shard naming a xorb that was never stored.
    const whole = Buffer.concat(content);
    expect((await post(`${casUrl}/v1/shards`, makeShard(good, { sha: sha256(whole) }))).status).toBe(400);
    // Now the xorb, intact.
    const ok = await post(`${casUrl}/v1/xorbs/default/${good.hash}`, good.body);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ was_inserted: true });
    // Shards that lie: wrong sha256, wrong file hash, wrong verification hash, truncated, not a shard.
    const wrong = new Uint8Array(32).fill(7);
    expect((await post(`${casUrl}/v1/shards`, makeShard(good, { sha: sha256(Buffer.from('other')) }))).status).toBe(400);
    expect((await post(`${casUrl}/v1/shards`, makeShard(good, { sha: sha256(whole), fileHash: wrong }))).status).toBe(400);
    expect((await post(`${casUrl}/v1/shards`, makeShard(good, { sha: sha256(whole), verification: wrong }))).status).toBe(400);
    expect((await post(`${casUrl}/v1/shards`, makeShard(good, { sha: sha256(whole) }).subarray(0, 200))).status).toBe(400);
    expect((await post(`${casUrl}/v1/shards`, noise(500, 4))).status).toBe(400);
    // None of those files exists: a commit naming the sha256 is refused, the reconstruction is 404.
    const commit = (oid: string) =>
      fetch(`${server.url}/api/datasets/acme/xet-hostile/commit/main`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${WRITE}`, 'Content-Type': 'application/x-ndjson' },
        body: `${JSON.stringify({ key: 'header', value: { summary: 'x' } })}\n${JSON.stringify({ key: 'lfsFile', value: { path: 'w.bin', algo: 'sha256', oid, size: whole.length } })}\n`,
      });
    expect((await commit(sha256(whole))).status).toBe(422);
    const fid = xetHex(fileHash(good.leaves));
    expect((await fetch(`${casUrl}/v1/reconstructions/${fid}`, { headers: auth })).status).toBe(404);
    // The honest shard is accepted, and then the file commits and resolves.
    expect((await post(`${casUrl}/v1/shards`, makeShard(good, { sha: sha256(whole) }))).status).toBe(200);
    expect((await commit(sha256(whole))).status).toBe(200);
    const got = await fetch(`${server.url}/datasets/acme/xet-hostile/resolve/main/w.bin`);
    expect(Buffer.from(await got.arrayBuffer()).equals(whole)).toBe(true);
    // Another repo's token cannot read this repo's file through the CAS.
    await createRepo({ repo: { type: 'dataset', name: 'acme/xet-other' }, hubUrl: server.url, accessToken: WRITE });
    const foreign = await casToken('acme/xet-other', 'read');
    expect(
      (await fetch(`${casUrl}/v1/reconstructions/${fid}`, { headers: { Authorization: `Bearer ${foreign.accessToken}` } })).status,
    ).toBe(404);
    expect((await fetch(`${casUrl}/v1/reconstructions/${fid}`, { headers: auth })).status).toBe(200);
  }, 60_000);

  it('writes nothing under tmp that outlives a refused upload', async () => {
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(path.join(tmp, 'hub', 'tmp'))).toEqual([]);
  });
});
