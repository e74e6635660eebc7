/**
 * Who the local Hub server lets in: listed tokens with read/write roles (real @huggingface/hub and
 * huggingface_hub clients), private repos, percent-encoded traversal in every path segment, the
 * 0600 token and secret files, and the refusal to listen beyond loopback without tokens.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo, type HubApiError, uploadFiles } from '@huggingface/hub';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { CLI_BIN, finished, spawnCli } from './helpers/cli.ts';
import type { CliRun } from './helpers/cli.ts';
import { runPython } from './helpers/python.ts';
import { testToken } from './helpers/bytes.ts';

const WRITE = testToken();
const READ = testToken();
const UNLISTED = testToken();

/** Every file under `dir` with its size and mtime, skipping `skip`. */
function snapshot(dir: string, skip: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (p === skip) continue;
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        out.set(p, `${st.size}:${st.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return out;
}

async function status(res: Promise<Response>): Promise<number> {
  const r = await res;
  await r.body?.cancel();
  return r.status;
}

describe('local Hub server access control', () => {
  let work: string;
  let dir: string;
  let server: HubServer;

  beforeAll(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'hub-auth-'));
    dir = path.join(work, 'a', 'b', 'hub');
    mkdirSync(dir, { recursive: true });
    server = await startHubServer({
      dir,
      tokens: [
        { token: WRITE, role: 'write' },
        { token: READ, role: 'read' },
      ],
    });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('a write with an unlisted hf_ token is 401, with a read token 403, with a write token allowed', async () => {
    const hubUrl = server.url;
    const attempt = async (accessToken: string): Promise<number> => {
      try {
        await createRepo({ repo: { type: 'dataset', name: 'acme/pub' }, hubUrl, accessToken });
        return 200;
      } catch (err) {
        return (err as HubApiError).statusCode;
      }
    };
    expect(await attempt(UNLISTED)).toBe(401);
    expect(await attempt(READ)).toBe(403);
    expect(await attempt(WRITE)).toBe(200);
    await uploadFiles({
      repo: { type: 'dataset', name: 'acme/pub' },
      hubUrl,
      accessToken: WRITE,
      files: [{ path: 'a.txt', content: new Blob(['public\n']) }],
    });
    const commitBy = (accessToken: string): Promise<unknown> =>
      uploadFiles({
        repo: { type: 'dataset', name: 'acme/pub' },
        hubUrl,
        accessToken,
        files: [{ path: 'b.txt', content: new Blob(['x']) }],
      });
    await expect(commitBy(UNLISTED)).rejects.toMatchObject({ statusCode: 401 });
    await expect(commitBy(READ)).rejects.toMatchObject({ statusCode: 403 });
    // Tags, branches and deletes: the same rule, through raw requests.
    const api = `${hubUrl}/api/datasets/acme/pub`;
    const post = (url: string, token: string | undefined, body: unknown, method = 'POST'): Promise<number> =>
      status(
        fetch(url, {
          method,
          headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(body),
        }),
      );
    for (const token of [undefined, UNLISTED]) {
      expect(await post(`${api}/tag/main`, token, { tag: 'v1' })).toBe(401);
      expect(await post(`${api}/branch/dev`, token, {})).toBe(401);
      expect(await post(`${hubUrl}/api/repos/delete`, token, { name: 'pub', organization: 'acme', type: 'dataset' }, 'DELETE')).toBe(401);
    }
    expect(await post(`${api}/tag/main`, READ, { tag: 'v1' })).toBe(403);
    expect(await post(`${hubUrl}/api/repos/delete`, READ, { name: 'pub', organization: 'acme', type: 'dataset' }, 'DELETE')).toBe(403);
    // Public reads need no token, and an unlisted one (say a real huggingface.co token in the env) does not block them.
    for (const token of [undefined, UNLISTED]) {
      const res = await fetch(`${hubUrl}/datasets/acme/pub/resolve/main/a.txt`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
      expect(await res.text()).toBe('public\n');
    }
    // huggingface_hub maps the answers to its errors and never sees the repo change.
    const py = await runPython<{ unlisted: [string, number]; read: [string, number]; files: string[] }>(
      `
import json, os
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
def attempt(token):
    try:
        HfApi(token=token).create_tag("acme/pub", repo_type="dataset", tag="v9")
        return ["ok", 200]
    except HfHubHTTPError as e:
        return [type(e).__name__, e.response.status_code]
print(json.dumps({"unlisted": attempt(os.environ["UNLISTED"]), "read": attempt(os.environ["READ"]),
                  "files": sorted(HfApi(token=False).list_repo_files("acme/pub", repo_type="dataset"))}))
`,
      { env: { HF_ENDPOINT: server.url, HF_HUB_OFFLINE: '0', HF_TOKEN: '', UNLISTED, READ, HF_HOME: path.join(work, 'py-home') } },
    );
    expect(py.unlisted[1]).toBe(401);
    expect(py.read[1]).toBe(403);
    expect(py.files).toEqual(['.gitattributes', 'a.txt']);
  });

  it('a private repo is not found without a listed token, and readable with a read token', async () => {
    const hubUrl = server.url;
    await createRepo({ repo: { type: 'dataset', name: 'acme/priv' }, hubUrl, accessToken: WRITE, visibility: 'private' } as Parameters<
      typeof createRepo
    >[0]);
    await uploadFiles({
      repo: { type: 'dataset', name: 'acme/priv' },
      hubUrl,
      accessToken: WRITE,
      files: [{ path: 'secret.txt', content: new Blob(['private bytes\n']) }],
    });
    for (const url of [
      `${hubUrl}/api/datasets/acme/priv`,
      `${hubUrl}/datasets/acme/priv/resolve/main/secret.txt`,
      `${hubUrl}/api/datasets/acme/priv/tree/main`,
      `${hubUrl}/api/datasets/acme/priv/refs`,
    ]) {
      for (const token of [undefined, UNLISTED]) {
        const res = await fetch(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
        const body = await res.text();
        expect([401, 404], `${url} ${token ?? 'no token'}`).toContain(res.status);
        expect(res.headers.get('x-error-code')).toBe('RepoNotFound');
        expect(body).not.toContain('private bytes');
      }
    }
    const res = await fetch(`${hubUrl}/datasets/acme/priv/resolve/main/secret.txt`, { headers: { Authorization: `Bearer ${READ}` } });
    expect(await res.text()).toBe('private bytes\n');
  });

  it('percent-encoded traversal in any path segment is a 4xx, reads nothing and writes nothing outside --dir', async () => {
    const hubUrl = server.url;
    // A repo planted where "../" out of repos/datasets/ would land: outside --dir.
    const planted = path.join(work, 'outside', 'pwn');
    const sha = 'a'.repeat(40);
    mkdirSync(path.join(planted, 'commits'), { recursive: true });
    writeFileSync(
      path.join(planted, 'repo.json'),
      JSON.stringify({
        type: 'dataset',
        id: 'outside/pwn',
        private: false,
        createdAt: 'PLANTED',
        defaultBranch: 'main',
        branches: { main: sha },
        tags: {},
      }),
    );
    writeFileSync(
      path.join(planted, 'commits', `${sha}.json`),
      JSON.stringify({ id: sha, parents: [], title: 'PLANTED', message: '', date: 'PLANTED', authors: [], files: {} }),
    );
    const before = snapshot(work, dir);
    const up = '..%2F..%2F..%2F..%2F..%2Foutside';
    const upDouble = '..%252F..%252F..%252Foutside';
    const get = (u: string): Promise<Response> => fetch(`${hubUrl}${u}`, { headers: { Authorization: `Bearer ${WRITE}` } });
    const send = (u: string, method: string, body: string, type = 'application/json'): Promise<Response> =>
      fetch(`${hubUrl}${u}`, { method, headers: { Authorization: `Bearer ${WRITE}`, 'Content-Type': type }, body });
    const cases: Array<[string, () => Promise<Response>]> = [];
    for (const [ns, name] of [
      ['..%2F..%2F..%2Foutside', 'pwn'],
      [up, 'pwn'],
      ['..', 'pwn'],
      ['..%5C..%5Coutside', 'pwn'],
      ['acme', `..%2F${up}%2Fpwn`],
      ['acme', '..'],
      [upDouble, 'pwn'],
      ['%2E%2E', 'pwn'],
    ]) {
      const id = `${ns}/${name}`;
      cases.push(
        [`GET /api/datasets/${id}`, () => get(`/api/datasets/${id}`)],
        [`GET /api/datasets/${id}/refs`, () => get(`/api/datasets/${id}/refs`)],
        [`GET /api/datasets/${id}/revision/main`, () => get(`/api/datasets/${id}/revision/main`)],
        [`GET /api/datasets/${id}/tree/main`, () => get(`/api/datasets/${id}/tree/main`)],
        [`GET /datasets/${id}/resolve/main/x`, () => get(`/datasets/${id}/resolve/main/x`)],
        [`POST /api/datasets/${id}/branch/evil`, () => send(`/api/datasets/${id}/branch/evil`, 'POST', '{"emptyBranch":true}')],
        [`POST /api/datasets/${id}/tag/main`, () => send(`/api/datasets/${id}/tag/main`, 'POST', '{"tag":"evil"}')],
        [
          `POST /api/datasets/${id}/commit/main`,
          () =>
            send(
              `/api/datasets/${id}/commit/main`,
              'POST',
              '{"key":"header","value":{"summary":"x"}}\n{"key":"file","value":{"path":"x","content":"eA==","encoding":"base64"}}',
              'application/x-ndjson',
            ),
        ],
        [`PUT /api/datasets/${id}/settings`, () => send(`/api/datasets/${id}/settings`, 'PUT', '{"private":true}')],
        [
          `POST /datasets/${id}.git/info/lfs/objects/batch`,
          () => send(`/datasets/${id}.git/info/lfs/objects/batch`, 'POST', '{"operation":"upload","objects":[]}'),
        ],
      );
    }
    // Revision, path and LFS segments of a real repo.
    for (const u of [
      `/datasets/acme/pub/resolve/${up}%2Fpwn/repo.json`,
      `/datasets/acme/pub/resolve/main/${up}%2Fpwn%2Frepo.json`,
      `/api/datasets/acme/pub/tree/main/${up}`,
      `/api/datasets/acme/pub/revision/${up}`,
    ]) {
      cases.push([`GET ${u}`, () => get(u)]);
    }
    cases.push(
      ['POST branch ../', () => send(`/api/datasets/acme/pub/branch/${up}`, 'POST', '{}')],
      ['POST tag ../', () => send('/api/datasets/acme/pub/tag/main', 'POST', JSON.stringify({ tag: '../../../outside' }))],
      ['PUT _lfs ../', () => send(`/_lfs/upload/${up}/5?sig=x`, 'PUT', 'hello', 'application/octet-stream')],
      [
        'POST repos/create ../',
        () => send('/api/repos/create', 'POST', JSON.stringify({ name: 'pwn', organization: '../../../outside', type: 'dataset' })),
      ],
    );
    for (const [what, run] of cases) {
      const res = await run();
      const body = await res.text();
      expect(res.status, what).toBeGreaterThanOrEqual(400);
      expect(res.status, what).toBeLessThan(500);
      expect(body, what).not.toContain('PLANTED');
      expect(body, what).not.toContain(sha);
    }
    expect(snapshot(work, dir)).toEqual(before);
    expect(readdirSync(path.join(planted, 'commits'))).toEqual([`${sha}.json`]);
  });

  it('keeps the token and the secret readable only by their owner, also when an older run left them open', async () => {
    const own = path.join(work, 'own');
    const s1 = await startHubServer({ dir: own });
    await s1.stop();
    expect(s1.tokenFile).toBe(path.join(own, 'token'));
    expect(s1.token).toMatch(/^hf_[A-Za-z0-9_-]{32}$/);
    expect(readFileSync(s1.tokenFile!, 'utf8').trim()).toBe(s1.token);
    for (const f of ['token', 'secret']) expect(statSync(path.join(own, f)).mode & 0o777, f).toBe(0o600);
    for (const f of ['token', 'secret']) chmodSync(path.join(own, f), 0o644);
    const s2 = await startHubServer({ dir: own });
    // The same token across restarts, and only it writes.
    expect(s2.token).toBe(s1.token);
    for (const f of ['token', 'secret']) expect(statSync(path.join(own, f)).mode & 0o777, f).toBe(0o600);
    await expect(createRepo({ repo: { type: 'dataset', name: 'acme/x' }, hubUrl: s2.url, accessToken: WRITE })).rejects.toMatchObject({
      statusCode: 401,
    });
    await createRepo({ repo: { type: 'dataset', name: 'acme/x' }, hubUrl: s2.url, accessToken: s2.token! });
    await s2.stop();
  });

  it('refuses a host other than loopback unless tokens are configured', async () => {
    await expect(startHubServer({ dir: path.join(work, 'open'), host: '0.0.0.0' })).rejects.toThrow(
      /--host 0\.0\.0\.0 is not loopback: give --token or --tokens-file/,
    );
    const s = await startHubServer({ dir: path.join(work, 'open'), host: '0.0.0.0', tokens: [{ token: WRITE, role: 'write' }] });
    await s.stop();
    // The command: exit 2 and one line; with a tokens file it starts and prints how to use it, never a token.
    const cli = (args: string[]): Promise<CliRun> => {
      const child = spawnCli(['hub', 'serve', '--dir', path.join(work, 'cli'), ...args], { entry: CLI_BIN });
      const run = finished(child);
      let stdout = '';
      child.stdout!.on('data', (d: string) => {
        stdout += d;
        if (stdout.includes('Ctrl+C')) child.kill('SIGTERM');
      });
      return run;
    };
    const refused = await cli(['--host', '0.0.0.0']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--host 0\.0\.0\.0 is not loopback/);
    const tokensFile = path.join(work, 'tokens.txt');
    writeFileSync(tokensFile, `# team\n${WRITE} write\n${READ} read\n`, { mode: 0o600 });
    const ok = await cli(['--tokens-file', tokensFile]);
    expect(ok.stdout).toMatch(/configured tokens/);
    const own = await cli([]);
    const tokenFile = path.join(work, 'cli', 'token');
    expect(own.stdout).toContain(`HF_TOKEN=$(cat ${tokenFile})`);
    for (const out of [ok.stdout, ok.stderr, own.stdout, own.stderr]) {
      for (const t of [WRITE, READ, readFileSync(tokenFile, 'utf8').trim()]) expect(out).not.toContain(t);
    }
  });
});
