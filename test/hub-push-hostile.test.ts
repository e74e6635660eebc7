/**
 * `push` under kills at every step of a staged push, two pushes at once, and a user's own branch
 * of the staging branch's name: the branch always loads whole (old or new version), a re-run
 * completes it, and push never deletes a branch it did not make.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBranch, listFiles, uploadFiles } from '@huggingface/hub';
import { InputError, UsageError } from '../src/errors.ts';
import { loadHint, MAX_FILES_PER_COMMIT, pushDataset, stagingBranch } from '../src/hub/push.ts';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { makeDataset, writeManifest } from './hub-push.fixture.ts';
import type { DatasetFile } from '../src/hf/dataset-manifest.ts';
import { repoRoot, runPython } from './helpers/python.ts';
import { testToken } from './helpers/bytes.ts';

const TOKEN = testToken();
const CLI = path.join(repoRoot, 'bin', 'nusomi-hf.js');
const STAGING = stagingBranch('main');
const token = new HubToken(TOKEN, 'HF_TOKEN');

let work: string;
let hub: HubServer;
/** Called with each request line the server logs (method, path, status). */
let onRequest: (line: string) => void = () => {};
let v1: string;
let v2: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'hub-push-hostile-'));
  hub = await startHubServer({ dir: path.join(work, 'hub'), tokens: [{ token: TOKEN, role: 'write' }], log: (l) => onRequest(l) });
  v1 = path.join(work, 'v1');
  v2 = path.join(work, 'v2');
  // v2 renames every shard and takes two commits.
  await Promise.all([
    makeDataset(v1, { parquet: { train: Array(20).fill(1), test: [1] }, seed: 1 }),
    makeDataset(v2, { parquet: { train: Array(MAX_FILES_PER_COMMIT + 10).fill(2), test: [3] }, seed: 2 }),
  ]);
}, 60_000);

afterAll(async () => {
  await hub?.stop();
  rmSync(work, { recursive: true, force: true });
});

const V1_ROWS = { train: 20, test: 1 };
const V2_ROWS = { train: 2 * (MAX_FILES_PER_COMMIT + 10), test: 3 };

/** `nusomi-hf push v2 --tag v2` killed with SIGKILL right after the server answered the request `killAfter` picks. */
async function pushKilledAfter(repo: string, killAfter: (line: string) => boolean): Promise<string | null> {
  const env: NodeJS.ProcessEnv = { ...process.env, HF_TOKEN: TOKEN, HF_HOME: path.join(work, 'cli-home') };
  delete env.HF_ENDPOINT;
  const child = spawn(process.execPath, [CLI, 'push', v2, '--repo', repo, '--hub-url', hub.url, '--tag', 'v2'], { env, stdio: 'ignore' });
  onRequest = (line) => {
    if (killAfter(line)) child.kill('SIGKILL');
  };
  const signal = await new Promise<string | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (_code, sig) => resolve(sig));
  });
  onRequest = () => {};
  return signal;
}

/** Rows per split that datasets loads from `rev` (or the error), and whether the card's manifest lists exactly the data files there. */
async function loadRev(repo: string, rev: string): Promise<{ counts?: Record<string, number>; error?: string; whole: boolean }> {
  const got = await runPython<{ counts?: Record<string, number>; error?: string }>(
    `
import json, sys
from datasets import load_dataset
out = {}
try:
    ds = load_dataset(sys.argv[1], revision=sys.argv[2])
    out["counts"] = {k: v.num_rows for k, v in ds.items()}
except Exception as e:
    out["error"] = type(e).__name__ + ": " + str(e)[:300]
print(json.dumps(out))
`,
    {
      args: [repo, rev],
      env: {
        HF_ENDPOINT: hub.url,
        HF_HUB_OFFLINE: '0',
        HF_DATASETS_OFFLINE: '0',
        HF_TOKEN: '',
        HF_HOME: path.join(work, `py-${Math.random().toString(36).slice(2)}`),
      },
    },
  );
  return { ...got, whole: await manifestMatchesTree(repo, rev) };
}

async function manifestMatchesTree(repo: string, rev: string): Promise<boolean> {
  const files: string[] = [];
  for await (const f of listFiles({ repo: { type: 'dataset', name: repo }, recursive: true, revision: rev, hubUrl: hub.url }))
    if (f.type === 'file' && f.path.startsWith('data/')) files.push(f.path);
  const manifest = (await (await fetch(`${hub.url}/datasets/${repo}/resolve/${rev}/dataset-manifest.json`)).json()) as {
    files: Array<{ path: string }>;
  };
  return JSON.stringify(files.sort()) === JSON.stringify(manifest.files.map((f) => f.path).sort());
}

async function branches(repo: string): Promise<string[]> {
  const refs = (await (await fetch(`${hub.url}/api/datasets/${repo}/refs`)).json()) as { branches: Array<{ name: string }> };
  return refs.branches.map((b) => b.name).sort();
}

describe('push with branch and tag names a user might type', () => {
  it('a branch or tag name the Hub refuses is a usage error before anything is uploaded', async () => {
    const before: string[] = [];
    onRequest = (l) => before.push(l);
    try {
      for (const [flag, opts] of [
        ['--tag', { tag: 'v 1' }],
        ['--tag', { tag: 'v1..2' }],
        ['--branch', { branch: 'dev.lock' }],
        ['--branch', { branch: 'a:b' }],
        ['--tag', { tag: 'x'.repeat(201) }],
      ] as const) {
        const err = await pushDataset({ dir: v1, repo: 'acme/names', hubUrl: hub.url, token, ...opts }).catch((e: unknown) => e as Error);
        // Before: the whole version was uploaded, and only then the tag was refused (HTTP 400).
        expect(err, JSON.stringify(opts)).toBeInstanceOf(UsageError);
        expect((err as Error).message).toContain(`${flag} `);
      }
    } finally {
      onRequest = () => {};
    }
    expect(before).toEqual([]);
  });

  it('a branch with quotes and "$(" gives a card snippet and a load hint that run as pasted', async () => {
    const branch = `it's"$(echo>${path.join(work, 'PWNED')})`;
    const r = await pushDataset({ dir: v1, repo: 'acme/quotes', branch, hubUrl: hub.url, token });
    const card = await (await fetch(`${hub.url}/datasets/acme/quotes/resolve/${encodeURIComponent(branch)}/README.md`)).text();
    const snippet = /```python\n([\s\S]*?)```/.exec(card.slice(card.indexOf('### With `datasets`')))![1]!;
    const env = {
      HF_ENDPOINT: hub.url,
      HF_HUB_OFFLINE: '0',
      HF_DATASETS_OFFLINE: '0',
      HF_TOKEN: '',
      HF_HOME: path.join(work, 'py-quotes'),
    };
    // Before: revision="it's"$(...)" broke the Python string.
    const counts = await runPython<Record<string, number>>(
      `${snippet
        .split('\n')
        .filter((l) => !l.startsWith('row'))
        .join('\n')}\nimport json; print(json.dumps({k: v.num_rows for k, v in ds.items()}))`,
      { env },
    );
    expect(counts).toEqual(V1_ROWS);
    // The hint is a shell command: run it with bash, with python from the venv first on PATH.
    const hint = loadHint(r);
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn('bash', ['-c', hint], {
        env: { ...process.env, ...env, PATH: `${path.join(repoRoot, '.venv', 'bin')}:${process.env.PATH}` },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout }));
    });
    expect(out.code, hint).toBe(0);
    expect(out.stdout).toMatch(/num_rows: 20/);
    expect(existsSync(path.join(work, 'PWNED'))).toBe(false);
  }, 60_000);
});

describe('push of a dataset directory it did not make', () => {
  it('refuses links out of the dataset directory: a data file, a data folder or the README pointing at a secret', async () => {
    const secretDir = path.join(work, 'secrets');
    mkdirSync(secretDir, { recursive: true });
    for (const what of ['file', 'folder', 'readme'] as const) {
      const d = path.join(work, `links-${what}`);
      const m = await makeDataset(d, { parquet: { train: [1], test: [1] }, seed: 7 });
      const f = m.files[0]!;
      const secret = path.join(secretDir, `id_rsa-${what}`);
      if (what === 'file') {
        writeFileSync(secret, 'S'.repeat(f.bytes));
        unlinkSync(path.join(d, f.path));
        symlinkSync(secret, path.join(d, f.path));
      } else if (what === 'folder') {
        mkdirSync(secret);
        for (const g of m.files) writeFileSync(path.join(secret, path.basename(g.path)), 'S'.repeat(g.bytes));
        rmSync(path.join(d, 'data'), { recursive: true });
        symlinkSync(secret, path.join(d, 'data'));
      } else {
        writeFileSync(secret, '# my notes\nSSSS secret\n');
        unlinkSync(path.join(d, 'README.md'));
        symlinkSync(secret, path.join(d, 'README.md'));
      }
      // Before: the secret's bytes were published (the file's size matched the manifest).
      const err = await pushDataset({ dir: d, repo: `acme/links-${what}`, hubUrl: hub.url, token }).catch((e: unknown) => e as Error);
      expect(err, what).toBeInstanceOf(InputError);
      expect((err as Error).message, what).toMatch(/outside the dataset directory: push uploads only files inside it/);
      const res = await fetch(`${hub.url}/api/datasets/acme/links-${what}`);
      await res.body?.cancel();
      expect(res.status, what).toBe(404);
    }
  });

  it('a Hub that asks for a large file inline is refused before push reads the file into memory', async () => {
    const d = path.join(work, 'inline');
    // One 12 MB shard, over MAX_INLINE_FILE_BYTES.
    await makeDataset(d, { parquet: { train: [2], test: [1] }, seed: 11, payloadBytes: 6 * 1024 * 1024 });
    // The preupload answer says every file goes inline ("regular"), as a hostile or broken Hub might.
    const inlineEverything: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (!url.includes('/preupload/') || !res.ok) return res;
      const body = (await res.json()) as { files: Array<{ path: string; uploadMode: string }> };
      for (const f of body.files) f.uploadMode = 'regular';
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
    const err = await pushDataset({ dir: d, repo: 'acme/inline', hubUrl: hub.url, token, fetch: inlineEverything }).catch(
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/asked for data\/train-00000-of-00001\.parquet \(\d+ bytes\) inline.*MAX_INLINE_FILE_BYTES/);
    expect((err as Error).message.length).toBeLessThan(400);
    // Nothing was committed: the repo (push creates it first) holds no data file.
    const files: string[] = [];
    for await (const f of listFiles({ repo: { type: 'dataset', name: 'acme/inline' }, recursive: true, hubUrl: hub.url }))
      files.push(f.path);
    expect(files.filter((p) => p.startsWith('data/'))).toEqual([]);
  });

  it('refuses a data file whose bytes changed since convert (same size), before it is uploaded', async () => {
    const d = path.join(work, 'changed');
    const m = await makeDataset(d, { parquet: { train: [1, 1], test: [1] }, seed: 8, payloadBytes: 64 });
    await pushDataset({ dir: d, repo: 'acme/changed', hubUrl: hub.url, token });
    const before = ((await (await fetch(`${hub.url}/api/datasets/acme/changed/revision/main`)).json()) as { sha: string }).sha;
    // A new version whose manifest lists sha256s, then one file rewritten with other bytes of the same size.
    const m2 = await makeDataset(d, { parquet: { train: [1, 1], test: [1] }, seed: 9, payloadBytes: 64 });
    expect(m2.files[0]!.sha256).not.toBe(m.files[0]!.sha256);
    const victim = path.join(d, m2.files[0]!.path);
    writeFileSync(victim, 'X'.repeat(m2.files[0]!.bytes));
    const err = await pushDataset({ dir: d, repo: 'acme/changed', hubUrl: hub.url, token }).catch((e: unknown) => e as Error);
    // Before: the new bytes went up under a manifest that lists the old sha256.
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toContain(`${victim} changed since convert`);
    expect(((await (await fetch(`${hub.url}/api/datasets/acme/changed/revision/main`)).json()) as { sha: string }).sha).toBe(before);

    // A small text file goes inline in the commit (the client hashes nothing): the same check.
    const jsonl = path.join(work, 'changed-jsonl');
    const m3 = await makeDataset(jsonl, { parquet: { train: [1], test: [1] }, seed: 10 });
    const rows = '{"session_id":"a","step":0}\n';
    mkdirSync(path.join(jsonl, 'jsonl'));
    writeFileSync(path.join(jsonl, 'jsonl', 'train-00000.jsonl'), rows);
    m3.files.push({
      path: 'jsonl/train-00000.jsonl',
      format: 'jsonl',
      split: 'train',
      rows: 1,
      bytes: rows.length,
      sha256: createHash('sha256').update(rows).digest('hex'),
    } as DatasetFile);
    m3.formats = ['parquet', 'jsonl'];
    writeManifest(jsonl, m3);
    writeFileSync(path.join(jsonl, 'jsonl', 'train-00000.jsonl'), rows.replace('"a"', '"b"'));
    const err2 = await pushDataset({ dir: jsonl, repo: 'acme/changed-jsonl', formats: ['parquet', 'jsonl'], hubUrl: hub.url, token }).catch(
      (e: unknown) => e as Error,
    );
    expect(err2).toBeInstanceOf(InputError);
    expect((err2 as Error).message).toContain(`${path.join(jsonl, 'jsonl', 'train-00000.jsonl')} changed since convert`);
  });
});

describe('push under kills and concurrency', () => {
  // Each step of a staged push after which a kill leaves a different state on the Hub.
  const nth = (re: RegExp, n: number): ((line: string) => boolean) => {
    let seen = 0;
    return (line) => re.test(line) && ++seen === n;
  };
  const steps: Array<[string, (repo: string) => (line: string) => boolean, Record<string, number>]> = [
    ['the staging branch is made', (repo) => nth(new RegExp(`^POST /api/datasets/${repo}/branch/${STAGING} 200`), 1), V1_ROWS],
    // v2 takes two commits: the second is the last one on staging.
    ['the last staging commit', (repo) => nth(new RegExp(`^POST /api/datasets/${repo}/commit/${STAGING} 200`), 2), V1_ROWS],
    ['main is moved (staging not yet deleted)', (repo) => nth(new RegExp(`^POST /api/datasets/${repo}/branch/main 200`), 1), V2_ROWS],
    [
      'the staging branch is deleted (tag not yet made)',
      (repo) => nth(new RegExp(`^DELETE /api/datasets/${repo}/branch/${STAGING} 200`), 1),
      V2_ROWS,
    ],
  ];
  for (const [i, [what, killAfter, rows]] of steps.entries()) {
    it(`kill -9 after ${what}: main loads whole, a re-run completes it and tags it`, async () => {
      const repo = `acme/kill${i}`;
      await pushDataset({ dir: v1, repo, hubUrl: hub.url, token });
      expect(await pushKilledAfter(repo, killAfter(repo))).toBe('SIGKILL');
      const mid = await loadRev(repo, 'main');
      expect(mid.error).toBeUndefined();
      expect(mid.counts).toEqual(rows);
      expect(mid.whole).toBe(true);

      const again = await pushDataset({ dir: v2, repo, hubUrl: hub.url, token, tag: 'v2' });
      expect(await branches(repo)).toEqual(['main']);
      expect(await manifestMatchesTree(repo, 'v2')).toBe(true);
      expect(again.commit).toBe(((await (await fetch(`${hub.url}/api/datasets/${repo}/revision/v2`)).json()) as { sha: string }).sha);
      expect(await manifestMatchesTree(repo, 'main')).toBe(true);
    }, 60_000);
  }

  it('never deletes a branch of the staging name that push did not make', async () => {
    const repo = 'acme/mine';
    const hubUrl = hub.url;
    await pushDataset({ dir: v1, repo, hubUrl, token });
    await createBranch({ repo: { type: 'dataset', name: repo }, branch: STAGING, hubUrl, accessToken: TOKEN });
    await uploadFiles({
      repo: { type: 'dataset', name: repo },
      branch: STAGING,
      hubUrl,
      accessToken: TOKEN,
      files: [{ path: 'notes/mine.txt', content: new Blob(['my own work\n']) }],
    });
    // A push of one commit leaves it alone; a staged push refuses before changing anything.
    const small = path.join(work, 'small');
    await makeDataset(small, { parquet: { train: [1, 2], test: [1] }, seed: 5 });
    await pushDataset({ dir: small, repo, hubUrl, token });
    expect(await branches(repo)).toEqual(['main', STAGING]);
    const head = ((await (await fetch(`${hubUrl}/api/datasets/${repo}/revision/main`)).json()) as { sha: string }).sha;
    const err = await pushDataset({ dir: v2, repo, hubUrl, token }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`branch "${STAGING}" of ${repo} exists and holds commits push did not make`);
    // Before: the branch and its commit were deleted without a word.
    expect(await branches(repo)).toEqual(['main', STAGING]);
    const mine = await fetch(`${hubUrl}/datasets/${repo}/resolve/${STAGING}/notes/mine.txt`);
    expect(await mine.text()).toBe('my own work\n');
    expect(((await (await fetch(`${hubUrl}/api/datasets/${repo}/revision/main`)).json()) as { sha: string }).sha).toBe(head);
  }, 60_000);

  it('two staged pushes to one branch at once: main is one whole version and a failing push says why', async () => {
    const repo = 'acme/race';
    const hubUrl = hub.url;
    const v3 = path.join(work, 'v3');
    await makeDataset(v3, { parquet: { train: Array(MAX_FILES_PER_COMMIT + 30).fill(1), test: [2] }, seed: 3 });
    await pushDataset({ dir: v1, repo, hubUrl, token });
    for (const [a, b] of [
      [v2, v3],
      [v3, v1],
      [v1, v2],
    ] as const) {
      const results = await Promise.allSettled([
        pushDataset({ dir: a, repo, hubUrl, token }),
        pushDataset({ dir: b, repo, hubUrl, token }),
      ]);
      for (const r of results) {
        // Before: the loser failed with the raw "HTTP 404: Invalid rev id: nusomi-staging-main", or both failed.
        if (r.status === 'rejected')
          expect((r.reason as Error).message).toMatch(
            /another push to "main" is running or started meanwhile|branch "main" of acme\/race moved while this push staged/,
          );
      }
      expect(results.some((r) => r.status === 'fulfilled')).toBe(true);
      expect(await manifestMatchesTree(repo, 'main')).toBe(true);
    }
    const end = await loadRev(repo, 'main');
    expect(end.error).toBeUndefined();
    // A later staged push cleans any staging branch a loser left, and completes.
    await pushDataset({ dir: v2, repo, hubUrl, token });
    await pushDataset({ dir: v1, repo, hubUrl, token });
    expect(await branches(repo)).toEqual(['main']);
    expect((await loadRev(repo, 'main')).counts).toEqual(V1_ROWS);
  }, 120_000);
});
