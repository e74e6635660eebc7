/**
 * The local Hub server against the real @huggingface/hub client: repo creation, uploads (inline,
 * LFS basic, LFS multipart), listing, downloads, deletes, tags, privacy, tokens, bad LFS bytes,
 * restarts, and the `hub serve` command.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commit,
  createRepo,
  deleteFile,
  downloadFile,
  fileExists,
  listCommits,
  listFiles,
  pathsInfo,
  repoExists,
  uploadFiles,
} from '@huggingface/hub';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { spawnCli } from './helpers/cli.ts';

const TOKEN = 'hf_test_js_client_token';
const MiB = 1024 * 1024;

/** Deterministic, incompressible-looking bytes. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const blob = (b: Uint8Array): Blob => new Blob([b]);

async function download(
  hubUrl: string,
  repo: string,
  p: string,
  revision?: string,
  accessToken: string | undefined = TOKEN,
): Promise<Uint8Array | null> {
  const b = await downloadFile({ repo: { type: 'dataset', name: repo }, path: p, revision, hubUrl, accessToken });
  return b ? new Uint8Array(await b.arrayBuffer()) : null;
}

async function list(
  hubUrl: string,
  repo: string,
  revision?: string,
): Promise<Array<{ path: string; type: string; size: number; lfs?: { oid: string } }>> {
  const out = [];
  for await (const e of listFiles({ repo: { type: 'dataset', name: repo }, recursive: true, revision, hubUrl, accessToken: TOKEN }))
    out.push(e);
  return out;
}

describe('local Hub server with @huggingface/hub', () => {
  let dir: string;
  let server: HubServer;
  const requests: string[] = [];
  const repo = 'acme/screens';
  const files = {
    'README.md': new TextEncoder().encode('---\nlicense: apache-2.0\n---\n# screens\n'),
    'data/train.jsonl': new TextEncoder().encode('{"a":1}\n{"a":2}\n'),
    'blobs/small.bin': bytes(1000, 7), // NUL bytes + *.bin rule: LFS, basic transfer
    'blobs/big.bin': bytes(12 * MiB + 5, 11), // 4 MiB chunks: multipart, 4 parts
    'deep/a/b/c.txt': new TextEncoder().encode('nested\n'),
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'hub-server-'));
    server = await startHubServer({
      dir,
      tokens: [{ token: TOKEN, role: 'write' }],
      multipartChunkBytes: 4 * MiB,
      treePageSize: 3,
      log: (l) => requests.push(l),
    });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a private dataset repo, uploads inline, LFS and multipart files, lists and downloads them byte-identical', async () => {
    const hubUrl = server.url;
    const created = await createRepo({ repo: { type: 'dataset', name: repo }, private: true, hubUrl, accessToken: TOKEN });
    expect(created.repoUrl).toBe(`${hubUrl}/datasets/${repo}`);
    await expect(createRepo({ repo: { type: 'dataset', name: repo }, hubUrl, accessToken: TOKEN })).rejects.toThrow(/already/);

    const before = server.stats();
    await uploadFiles({
      repo: { type: 'dataset', name: repo },
      hubUrl,
      accessToken: TOKEN,
      // Plain LFS (basic and multipart) stays served beside Xet; hub-xet.test.ts covers Xet.
      useXet: false,
      files: Object.entries(files).map(([p, b]) => ({ path: p, content: blob(b) })),
    });
    const after = server.stats();
    // Only the two LFS files travel as LFS bodies; the rest is inline in the commit.
    expect(after.lfsBytesReceived - before.lfsBytesReceived).toBe(files['blobs/small.bin'].length + files['blobs/big.bin'].length);
    expect(after.commits - before.commits).toBe(1);
    // big.bin went up in 4 multipart parts plus a completion; small.bin as one basic PUT.
    expect(requests.filter((l) => /^PUT \/_lfs\/part\/.* 200$/.test(l))).toHaveLength(4);
    expect(requests.filter((l) => /^POST \/_lfs\/complete\/.* 200$/.test(l))).toHaveLength(1);
    expect(requests.filter((l) => /^PUT \/_lfs\/upload\/.* 200$/.test(l))).toHaveLength(1);
    expect(requests.some((l) => l.includes('sig='))).toBe(false);

    // Listing is paginated (3 per page) and the client follows the Link header.
    const listed = await list(hubUrl, repo);
    const filePaths = listed
      .filter((e) => e.type === 'file')
      .map((e) => e.path)
      .sort();
    expect(filePaths).toEqual(['.gitattributes', ...Object.keys(files)].sort());
    expect(
      listed
        .filter((e) => e.type === 'directory')
        .map((e) => e.path)
        .sort(),
    ).toEqual(['blobs', 'data', 'deep', 'deep/a', 'deep/a/b']);
    const big = listed.find((e) => e.path === 'blobs/big.bin')!;
    expect(big.lfs?.oid).toBe(sha256(files['blobs/big.bin']));
    expect(listed.find((e) => e.path === 'README.md')!.lfs).toBeUndefined();

    for (const [p, b] of Object.entries(files)) {
      const got = await download(hubUrl, repo, p);
      expect(got && sha256(got), p).toBe(sha256(b));
    }
    expect(await fileExists({ repo: { type: 'dataset', name: repo }, path: 'blobs/big.bin', hubUrl, accessToken: TOKEN })).toBe(true);
    expect(await fileExists({ repo: { type: 'dataset', name: repo }, path: 'nope.txt', hubUrl, accessToken: TOKEN })).toBe(false);
    expect(await download(hubUrl, repo, 'nope.txt')).toBeNull();

    // paths-info with the JS client's JSON body; missing paths are left out.
    const infos = await pathsInfo({
      repo: { type: 'dataset', name: repo },
      paths: ['blobs/big.bin', 'README.md', 'nope.txt'],
      expand: true,
      hubUrl,
      accessToken: TOKEN,
    });
    expect(infos.map((i) => [i.path, i.lfs?.oid ?? null, i.lastCommit?.title])).toEqual([
      ['blobs/big.bin', sha256(files['blobs/big.bin']), 'Add 5 files'],
      ['README.md', null, 'Add 5 files'],
    ]);
  });

  it('re-uploading stored LFS objects sends no bytes; deletes remove files; history and tags work', async () => {
    const hubUrl = server.url;
    const before = server.stats();
    await uploadFiles({
      repo: { type: 'dataset', name: repo },
      hubUrl,
      accessToken: TOKEN,
      files: [{ path: 'copy/big.bin', content: blob(files['blobs/big.bin']) }],
    });
    expect(server.stats().lfsBytesReceived).toBe(before.lfsBytesReceived);

    // Tag the current head with the raw call the JS client lacks, then delete a file on main.
    const tag = await fetch(`${hubUrl}/api/datasets/${repo}/tag/main`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ tag: 'v1', message: 'first' }),
    });
    expect(tag.status).toBe(200);
    const again = await fetch(`${hubUrl}/api/datasets/${repo}/tag/main`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ tag: 'v1' }),
    });
    expect(again.status).toBe(409);

    await deleteFile({ repo: { type: 'dataset', name: repo }, path: 'copy/big.bin', hubUrl, accessToken: TOKEN });
    expect(await fileExists({ repo: { type: 'dataset', name: repo }, path: 'copy/big.bin', hubUrl, accessToken: TOKEN })).toBe(false);
    expect((await list(hubUrl, repo)).some((e) => e.path.startsWith('copy'))).toBe(false);
    // The tag still sees the file; main does not.
    expect((await list(hubUrl, repo, 'v1')).some((e) => e.path === 'copy/big.bin')).toBe(true);
    expect(sha256((await download(hubUrl, repo, 'copy/big.bin', 'v1'))!)).toBe(sha256(files['blobs/big.bin']));

    const refs = (await (await fetch(`${hubUrl}/api/datasets/${repo}/refs`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as {
      tags: Array<{ name: string; targetCommit: string }>;
      branches: Array<{ name: string; targetCommit: string }>;
    };
    expect(refs.tags.map((t) => t.name)).toEqual(['v1']);
    const titles = [];
    for await (const c of listCommits({ repo: { type: 'dataset', name: repo }, hubUrl, accessToken: TOKEN })) titles.push(c.title);
    expect(titles).toEqual(['Delete copy/big.bin', 'Add 1 files', 'Add 5 files', 'initial commit']);
    expect(refs.branches[0]!.targetCommit).not.toBe(refs.tags[0]!.targetCommit);

    // A commit whose parentCommit is no longer the head is refused (412), nothing changes.
    await expect(
      commit({
        repo: { type: 'dataset', name: repo },
        hubUrl,
        accessToken: TOKEN,
        title: 'stale',
        parentCommit: refs.tags[0]!.targetCommit,
        operations: [{ operation: 'addOrUpdate', path: 'stale.txt', content: blob(new TextEncoder().encode('x')) }],
      }),
    ).rejects.toThrow();
    expect(await fileExists({ repo: { type: 'dataset', name: repo }, path: 'stale.txt', hubUrl, accessToken: TOKEN })).toBe(false);
  });

  it('hides private repos without a token (404 RepoNotFound) and refuses tokens that do not start with hf_ (401)', async () => {
    const hubUrl = server.url;
    expect(await repoExists({ repo: { type: 'dataset', name: repo }, hubUrl })).toBe(false);
    expect(await repoExists({ repo: { type: 'dataset', name: repo }, hubUrl, accessToken: TOKEN })).toBe(true);
    for (const url of [
      `${hubUrl}/api/datasets/${repo}`,
      `${hubUrl}/datasets/${repo}/resolve/main/README.md`,
      `${hubUrl}/api/datasets/${repo}/tree/main`,
    ]) {
      const res = await fetch(url);
      expect(res.status, url).toBe(404);
      expect(res.headers.get('x-error-code'), url).toBe('RepoNotFound');
    }
    const wrong = 'not-a-hub-token-12345';
    const res = await fetch(`${hubUrl}/api/datasets/${repo}`, { headers: { Authorization: `Bearer ${wrong}` } });
    expect(res.status).toBe(401);
    const body = await res.text();
    expect((JSON.parse(body) as { error: string }).error).toMatch(/start with "hf_"/);
    expect(body).not.toContain(wrong);
    const write = await fetch(`${hubUrl}/api/repos/create`, {
      method: 'POST',
      body: JSON.stringify({ name: 'x', organization: 'acme', type: 'dataset' }),
    });
    expect(write.status).toBe(401);
  });

  it('rejects an LFS PUT whose bytes do not match the oid, stores nothing, and refuses to commit that oid', async () => {
    const hubUrl = server.url;
    const claimed = bytes(5000, 99);
    const oid = sha256(claimed);
    const batch = await fetch(`${hubUrl}/datasets/${repo}.git/info/lfs/objects/batch`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/vnd.git-lfs+json', Accept: 'application/vnd.git-lfs+json' },
      body: JSON.stringify({
        operation: 'upload',
        transfers: ['basic', 'multipart'],
        hash_algo: 'sha_256',
        objects: [{ oid, size: claimed.length }],
      }),
    });
    const info = (await batch.json()) as { transfer: string; objects: Array<{ actions: { upload: { href: string } } }> };
    expect(info.transfer).toBe('basic'); // a client that does not offer xet gets plain LFS
    const href = info.objects[0]!.actions.upload.href;
    const forged = bytes(5000, 100);
    const put = await fetch(href, { method: 'PUT', body: forged });
    expect(put.status).toBe(400);
    expect(await put.text()).toMatch(/nothing stored/);
    expect(existsSync(path.join(dir, 'objects', oid.slice(0, 2), oid))).toBe(false);
    const unsigned = await fetch(href.replace(/sig=[0-9a-f]+/, 'sig=00'), { method: 'PUT', body: claimed });
    expect(unsigned.status).toBe(403);

    const ndjson = [
      { key: 'header', value: { summary: 'forged' } },
      { key: 'lfsFile', value: { path: 'forged.bin', algo: 'sha256', oid, size: claimed.length } },
    ]
      .map((l) => JSON.stringify(l))
      .join('\n');
    const c = await fetch(`${hubUrl}/api/datasets/${repo}/commit/main`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/x-ndjson' },
      body: ndjson,
    });
    expect(c.status).toBe(422);

    // The right bytes are accepted.
    expect((await fetch(href, { method: 'PUT', body: claimed })).status).toBe(200);
    expect(existsSync(path.join(dir, 'objects', oid.slice(0, 2), oid))).toBe(true);
  });

  it('survives a restart: refs, commits and objects come back from the directory', async () => {
    const oldUrl = server.url;
    const refsBefore = await (await fetch(`${oldUrl}/api/datasets/${repo}/refs`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
    await server.stop();
    server = await startHubServer({ dir, tokens: [{ token: TOKEN, role: 'write' }], multipartChunkBytes: 4 * MiB });
    const hubUrl = server.url;
    expect(await (await fetch(`${hubUrl}/api/datasets/${repo}/refs`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()).toEqual(
      refsBefore,
    );
    expect(sha256((await download(hubUrl, repo, 'blobs/big.bin', 'v1'))!)).toBe(sha256(files['blobs/big.bin']));
    expect(server.stats()).toEqual({ lfsBytesReceived: 0, xetBytesReceived: 0, xorbsStored: 0, commits: 0 });
    // Still writable after the restart.
    await uploadFiles({
      repo: { type: 'dataset', name: repo },
      hubUrl,
      accessToken: TOKEN,
      files: [{ path: 'after.txt', content: blob(new TextEncoder().encode('after restart\n')) }],
    });
    expect(new TextDecoder().decode((await download(hubUrl, repo, 'after.txt'))!)).toBe('after restart\n');
  });

  it('serves model repos too (no URL prefix on resolve and .git routes)', async () => {
    const hubUrl = server.url;
    const weights = bytes(3000, 3);
    await createRepo({ repo: { type: 'model', name: 'acme/tiny-model' }, hubUrl, accessToken: TOKEN });
    await uploadFiles({
      repo: { type: 'model', name: 'acme/tiny-model' },
      hubUrl,
      accessToken: TOKEN,
      files: [{ path: 'model.safetensors', content: blob(weights) }],
    });
    const got = await downloadFile({
      repo: { type: 'model', name: 'acme/tiny-model' },
      path: 'model.safetensors',
      hubUrl,
      accessToken: TOKEN,
    });
    expect(sha256(new Uint8Array(await got!.arrayBuffer()))).toBe(sha256(weights));
    const head = await fetch(`${hubUrl}/acme/tiny-model/resolve/main/model.safetensors`, { method: 'HEAD' });
    expect(head.headers.get('x-linked-etag')).toBe(`"${sha256(weights)}"`);
    expect(head.headers.get('x-linked-size')).toBe('3000');
    expect(head.headers.get('x-repo-commit')).toMatch(/^[0-9a-f]{40}$/);
    const part = await fetch(`${hubUrl}/acme/tiny-model/resolve/main/model.safetensors`, { headers: { Range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 10-19/3000');
    expect([...new Uint8Array(await part.arrayBuffer())]).toEqual([...weights.subarray(10, 20)]);
    const tail = await fetch(`${hubUrl}/acme/tiny-model/resolve/main/model.safetensors`, { headers: { Range: 'bytes=-5' } });
    expect([...new Uint8Array(await tail.arrayBuffer())]).toEqual([...weights.subarray(2995)]);
    expect((await fetch(`${hubUrl}/acme/tiny-model/resolve/main/model.safetensors`, { headers: { Range: 'bytes=3000-' } })).status).toBe(
      416,
    );
    // raw serves the LFS pointer, not the bytes.
    const pointer = await (await fetch(`${hubUrl}/acme/tiny-model/raw/main/model.safetensors`)).text();
    expect(pointer).toBe(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(weights)}\nsize 3000\n`);
  });

  it('stores and serves empty files (JS probes them with Range: bytes=0-0)', async () => {
    const hubUrl = server.url;
    await createRepo({ repo: { type: 'dataset', name: 'acme/empties' }, hubUrl, accessToken: TOKEN });
    await uploadFiles({
      repo: { type: 'dataset', name: 'acme/empties' },
      hubUrl,
      accessToken: TOKEN,
      files: [
        { path: 'empty/a.txt', content: blob(new Uint8Array(0)) },
        { path: 'empty/b.bin', content: blob(new Uint8Array(0)) },
      ],
    });
    for (const p of ['empty/a.txt', 'empty/b.bin']) expect((await download(hubUrl, 'acme/empties', p))?.length, p).toBe(0);
  });

  it('`nusomi-hf hub serve` serves a directory on loopback until stopped', async () => {
    const serveDir = await mkdtemp(path.join(os.tmpdir(), 'hub-serve-'));
    const child = spawnCli(['hub', 'serve', '--dir', serveDir, '--port', '0', '--token', TOKEN]);
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`hub serve exited ${code}: ${out}`)));
      });
      await createRepo({ repo: { type: 'dataset', name: 'acme/cli' }, hubUrl: url, accessToken: TOKEN });
      const who = (await (await fetch(`${url}/api/whoami-v2`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as {
        name: string;
      };
      expect(who.name).toBe('local-user');
      expect(existsSync(path.join(serveDir, 'repos', 'datasets', 'acme', 'cli', 'repo.json'))).toBe(true);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.on('close', resolve));
      await rm(serveDir, { recursive: true, force: true });
    }
  });
});
