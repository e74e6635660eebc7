/**
 * The local Hub server against hostile clients, beyond tokens and repo ids: the LFS verify URL is
 * no oracle for private bytes, signed upload URLs cannot fill the disk, revisions like
 * `refs/heads/__proto__` resolve to nothing, commit paths are bounded, and a tokens file others
 * can read is refused. huggingface_hub's LFS upload (which calls verify) still works.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo, uploadFiles } from '@huggingface/hub';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { repoRoot, runPython } from './helpers/python.ts';
import { testToken } from './helpers/bytes.ts';

const WRITE = testToken();
const READ = testToken();

let work: string;
let hub: HubServer;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'hub-hostile-'));
  // Small multipart chunks so a part URL is cheap to get.
  hub = await startHubServer({
    dir: path.join(work, 'hub'),
    tokens: [
      { token: WRITE, role: 'write' },
      { token: READ, role: 'read' },
    ],
    multipartChunkBytes: 1024,
  });
  await createRepo({
    repo: { type: 'dataset', name: 'acme/priv' },
    hubUrl: hub.url,
    accessToken: WRITE,
    visibility: 'private',
  } as Parameters<typeof createRepo>[0]);
});

afterAll(async () => {
  await hub?.stop();
  rmSync(work, { recursive: true, force: true });
});

const auth = (token?: string): Record<string, string> => (token ? { Authorization: `Bearer ${token}` } : {});

async function batch(
  oid: string,
  size: number,
): Promise<{ upload: { href: string; header?: Record<string, string> }; verify: { href: string } }> {
  const res = await fetch(`${hub.url}/datasets/acme/priv.git/info/lfs/objects/batch`, {
    method: 'POST',
    headers: { ...auth(WRITE), 'Content-Type': 'application/vnd.git-lfs+json' },
    body: JSON.stringify({ operation: 'upload', transfers: ['basic', 'multipart'], objects: [{ oid, size }] }),
  });
  expect(res.status).toBe(200);
  const json = (await res.json()) as {
    objects: Array<{ actions: { upload: { href: string; header?: Record<string, string> }; verify: { href: string } } }>;
  };
  return json.objects[0]!.actions;
}

/** A request body of `total` bytes streamed in 64 KiB chunks; the status, or 0 when the server cut the connection. */
async function putStream(url: string, total: number): Promise<number> {
  const chunk = new Uint8Array(64 * 1024).fill(7);
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= total) return c.close();
      sent += chunk.length;
      c.enqueue(chunk);
    },
  });
  try {
    const res = await fetch(url, { method: 'PUT', body, duplex: 'half' } as RequestInit);
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

describe('local Hub server against hostile clients', () => {
  it('the LFS verify URL tells nothing about private bytes without its signature', async () => {
    const secret = new TextEncoder().encode('private parquet bytes '.repeat(20));
    await uploadFiles({
      repo: { type: 'dataset', name: 'acme/priv' },
      hubUrl: hub.url,
      accessToken: WRITE,
      useXet: false,
      files: [{ path: 'data/x.parquet', content: new Blob([secret]) }],
    } as Parameters<typeof uploadFiles>[0]);
    const oid = createHash('sha256').update(secret).digest('hex');
    for (const token of [undefined, READ]) {
      const stored = await fetch(`${hub.url}/_lfs/verify/${oid}/${secret.length}`, { method: 'POST', headers: auth(token), body: '{}' });
      const absent = await fetch(`${hub.url}/_lfs/verify/${'0'.repeat(64)}/${secret.length}`, {
        method: 'POST',
        headers: auth(token),
        body: '{}',
      });
      await stored.body?.cancel();
      await absent.body?.cancel();
      // Before: 200 for the stored oid, 404 for the other: an existence oracle for any known file.
      expect(stored.status).toBe(403);
      expect(absent.status).toBe(403);
    }
  });

  it('huggingface_hub (default install: Xet) uploads to a private repo', async () => {
    const file = path.join(work, 'big.bin');
    writeFileSync(
      file,
      new Uint8Array(3000).map((_, i) => i % 251),
    );
    const got = await runPython<{ files: string[] }>(
      `
import json, sys
from huggingface_hub import HfApi
api = HfApi()
api.upload_file(path_or_fileobj=sys.argv[1], path_in_repo="blobs/big.bin", repo_id="acme/priv", repo_type="dataset")
print(json.dumps({"files": sorted(api.list_repo_files("acme/priv", repo_type="dataset"))}))
`,
      {
        args: [file],
        env: { HF_ENDPOINT: hub.url, HF_TOKEN: WRITE, HF_HUB_OFFLINE: '0', HF_HOME: path.join(work, 'py-home') },
      },
    );
    expect(got.files).toContain('blobs/big.bin');
  });

  it('a signed upload URL takes no more bytes than the object it was signed for', async () => {
    const size = 10;
    const oid = createHash('sha256').update('0123456789').digest('hex');
    const { upload } = await batch(oid, size);
    const before = hub.stats().lfsBytesReceived;
    const status = await putStream(upload.href, 64 * 1024 * 1024);
    // Before: all 64 MiB were written to tmp/ and only then refused.
    expect(status === 0 || status === 400).toBe(true);
    expect(hub.stats().lfsBytesReceived - before).toBeLessThan(16 * 1024 * 1024);
    // The refused upload's temp file goes once the server has closed it (just after it answers).
    for (let t = Date.now(); readdirSync(path.join(work, 'hub', 'tmp')).length && Date.now() - t < 5000; ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(readdirSync(path.join(work, 'hub', 'tmp'))).toEqual([]);

    const bigSize = 4096; // 4 parts of 1024 bytes
    const bigOid = createHash('sha256').update(new Uint8Array(bigSize)).digest('hex');
    const parts = (await batch(bigOid, bigSize)).upload.header!;
    expect(parts['00001']).toBeDefined();
    const beforePart = hub.stats().lfsBytesReceived;
    const partStatus = await putStream(parts['00001']!, 64 * 1024 * 1024);
    expect(partStatus === 0 || partStatus === 400).toBe(true);
    expect(hub.stats().lfsBytesReceived - beforePart).toBeLessThan(16 * 1024 * 1024);
    expect(readdirSync(path.join(work, 'hub', 'tmp'))).toEqual([]);
  });

  it('refs/heads/__proto__ and other inherited names resolve to no revision', async () => {
    const api = `${hub.url}/api/datasets/acme/priv`;
    const send = (u: string, body: unknown): Promise<Response> =>
      fetch(u, { method: 'POST', headers: { ...auth(WRITE), 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    for (const rev of ['refs/heads/__proto__', 'refs/heads/constructor', 'refs/tags/__proto__', '__proto__', 'constructor', 'toString']) {
      const branch = await send(`${api}/branch/evil`, { startingPoint: rev });
      const tag = await send(`${api}/tag/${encodeURIComponent(rev)}`, { tag: 'evil' });
      const info = await fetch(`${api}/revision/${encodeURIComponent(rev)}`, { headers: auth(WRITE) });
      for (const [what, res] of [
        ['branch', branch],
        ['tag', tag],
        ['revision', info],
      ] as const) {
        await res.body?.cancel();
        // Before: 200 for the refs/heads/ forms, and the branch or tag pointed at an object.
        expect(res.status, `${what} ${rev}`).toBe(404);
        expect(res.headers.get('x-error-code'), `${what} ${rev}`).toBe('RevisionNotFound');
      }
    }
    const refs = (await (await fetch(`${api}/refs`, { headers: auth(READ) })).json()) as {
      branches: Array<{ name: string; targetCommit: unknown }>;
      tags: unknown[];
    };
    expect(refs.branches.map((b) => b.name)).toEqual(['main']);
    expect(typeof refs.branches[0]!.targetCommit).toBe('string');
    expect(refs.tags).toEqual([]);
  });

  it('a commit line longer than an inline file can be is refused (413), not buffered', async () => {
    const small = await startHubServer({
      dir: path.join(work, 'lines'),
      tokens: [{ token: WRITE, role: 'write' }],
      lfsThresholdBytes: 1024 * 1024,
    });
    try {
      await createRepo({ repo: { type: 'dataset', name: 'acme/lines' }, hubUrl: small.url, accessToken: WRITE });
      const commit = async (content: string): Promise<number> => {
        const body = `${JSON.stringify({ key: 'header', value: { summary: 'x' } })}\n${JSON.stringify({ key: 'file', value: { path: 'a.txt', content, encoding: 'base64' } })}`;
        const res = await fetch(`${small.url}/api/datasets/acme/lines/commit/main`, {
          method: 'POST',
          headers: { ...auth(WRITE), 'Content-Type': 'application/x-ndjson' },
          body,
        });
        await res.body?.cancel();
        return res.status;
      };
      // Before: any line was read whole into memory (8 MiB here; a client could send gigabytes).
      expect(await commit('A'.repeat(8 * 1024 * 1024))).toBe(413);
      // A file just below the LFS threshold still goes inline.
      expect(await commit(Buffer.from(new Uint8Array(1024 * 1024 - 1).fill(65)).toString('base64'))).toBe(200);
    } finally {
      await small.stop();
    }
  });

  it('commit paths with control characters or longer than 4096 bytes are refused', async () => {
    for (const p of [`${'a/'.repeat(2100)}x`, 'data/x\ny.txt', 'data/\x1b[2Jx.txt', 'data/x\x7f.txt']) {
      const body = [
        JSON.stringify({ key: 'header', value: { summary: 'x' } }),
        JSON.stringify({ key: 'file', value: { path: p, content: 'eA==', encoding: 'base64' } }),
      ].join('\n');
      const res = await fetch(`${hub.url}/api/datasets/acme/priv/commit/main`, {
        method: 'POST',
        headers: { ...auth(WRITE), 'Content-Type': 'application/x-ndjson' },
        body,
      });
      const text = await res.text();
      expect(res.status, JSON.stringify(p.slice(0, 20))).toBe(400);
      expect(text).toMatch(/path/);
    }
  });

  it('an emptied or edited <dir>/token is an error naming the file, not a server nobody can write to', async () => {
    for (const text of ['', '\n', 'not-a-token\n', 'hf_x\n']) {
      const dir = path.join(work, `own-${Math.random().toString(36).slice(2)}`);
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'token'), text, { mode: 0o600 });
      // Before: it started, took the file's text as its only token, and answered every write 401.
      await expect(startHubServer({ dir }), JSON.stringify(text)).rejects.toThrow(`${path.join(dir, 'token')}: does not hold a token`);
    }
  });

  it("a token or secret planted as a link in a shared --dir is refused; a new storage dir is its owner's only", async () => {
    const shared = path.join(work, 'shared');
    mkdirSync(shared, { mode: 0o777 });
    const planted = path.join(work, 'attacker-token');
    writeFileSync(planted, `${testToken()}\n`, { mode: 0o644 });
    for (const name of ['token', 'secret']) {
      const dir = path.join(shared, `hub-${name}`);
      mkdirSync(dir);
      symlinkSync(planted, path.join(dir, name));
      // Before: the server followed the link, made the attacker's text its token (or signing key) and chmod-ed their file.
      await expect(startHubServer({ dir }), name).rejects.toThrow(`${path.join(dir, name)}: is a link or not your own regular file`);
    }
    expect(statSync(planted).mode & 0o777).toBe(0o644);
    const fresh = path.join(work, 'fresh', 'hub');
    const s = await startHubServer({ dir: fresh });
    await s.stop();
    // Before: 0755, so every local user could read private repos' objects.
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(work, 'fresh')).mode & 0o777).toBe(0o700);
  });

  it('hub serve refuses a tokens file that other users can read, and starts with a 0600 one', async () => {
    const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [path.join(repoRoot, 'bin', 'nusomi-hf.js'), 'hub', 'serve', '--dir', path.join(work, 'cli'), ...args],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          stdout += d;
          if (stdout.includes('Ctrl+C')) child.kill('SIGTERM');
        });
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
        });
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const open = path.join(work, 'tokens-open.txt');
    writeFileSync(open, `${WRITE} write\n`, { mode: 0o644 });
    const refused = await cli(['--tokens-file', open]);
    expect(refused.code).toBe(2);
    // A usage error: one line, then the pointer to --help.
    expect(refused.stderr.trim().split('\n')).toEqual([expect.stringContaining('chmod 600'), "(see 'nusomi-hf hub serve --help')"]);
    expect(refused.stderr).toContain(`chmod 600 ${open}`);
    expect(refused.stderr).not.toContain(WRITE);
    const closed = path.join(work, 'tokens-closed.txt');
    writeFileSync(closed, `${WRITE} write\n`, { mode: 0o600 });
    const ok = await cli(['--tokens-file', closed]);
    expect(ok.stdout).toMatch(/configured token/);
  });
});
