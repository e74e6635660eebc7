/**
 * `push` never publishes half a version, never shows a token or an upload signature, and checks
 * `--repo` before any request: kill -9 between the commits of a multi-commit push (checked with
 * the real datasets.load_dataset), a 500 from the upload URL, and repo ids the Hub refuses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.ts';
import { MAX_FILES_PER_COMMIT, pushDataset, stagingBranch } from '../src/hub/push.ts';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { makeDataset } from './hub-push.fixture.ts';
import { CLI_BIN, finished, spawnCli } from './helpers/cli.ts';
import type { CliRun } from './helpers/cli.ts';
import { runPython } from './helpers/python.ts';
import { testToken } from './helpers/bytes.ts';

const TOKEN = testToken();
const READ_TOKEN = testToken();

let work: string;
let hub: HubServer;
const requests: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'hub-push-atomic-'));
  hub = await startHubServer({
    dir: path.join(work, 'hub'),
    tokens: [
      { token: TOKEN, role: 'write' },
      { token: READ_TOKEN, role: 'read' },
    ],
    log: (l) => requests.push(l),
  });
});

afterAll(async () => {
  await hub?.stop();
  rmSync(work, { recursive: true, force: true });
});

function spawnPush(args: string[]): { done: Promise<CliRun>; kill: () => void } {
  const child = spawnCli(['push', ...args], {
    entry: CLI_BIN,
    env: { HF_TOKEN: TOKEN, HF_HOME: path.join(work, 'cli-home'), HF_ENDPOINT: undefined },
  });
  return { done: finished(child), kill: () => child.kill('SIGKILL') };
}

interface Loaded {
  counts?: Record<string, number>;
  error?: string;
  branches: Record<string, string>;
  files: string[];
  manifestFiles: string[];
}

/** What datasets and huggingface_hub see on `branch`: rows per split (or the error), refs, files. */
function loadBranch(repo: string, branch: string): Promise<Loaded> {
  return runPython<Loaded>(
    `
import json, sys
from datasets import load_dataset
from huggingface_hub import HfApi, hf_hub_download
repo, branch = sys.argv[1], sys.argv[2]
out = {}
try:
    ds = load_dataset(repo, revision=branch)
    out["counts"] = {k: v.num_rows for k, v in ds.items()}
except Exception as e:
    out["error"] = type(e).__name__ + ": " + str(e)[:300]
api = HfApi()
out["branches"] = {b.name: b.target_commit for b in api.list_repo_refs(repo, repo_type="dataset").branches}
out["files"] = sorted(api.list_repo_files(repo, repo_type="dataset", revision=branch))
m = json.load(open(hf_hub_download(repo, "dataset-manifest.json", repo_type="dataset", revision=branch)))
out["manifestFiles"] = sorted(f["path"] for f in m["files"])
print(json.dumps(out))
`,
    {
      args: [repo, branch],
      env: {
        HF_ENDPOINT: hub.url,
        HF_HUB_OFFLINE: '0',
        HF_DATASETS_OFFLINE: '0',
        HF_TOKEN: '',
        HF_HOME: path.join(work, `py-${Math.random().toString(36).slice(2)}`),
      },
    },
  );
}

describe('push publishes whole versions only', () => {
  it('a push killed (kill -9) between its commits leaves the branch at the old version; re-running completes it', async () => {
    const v1 = path.join(work, 'v1');
    const v2 = path.join(work, 'v2');
    // v2 renames every shard (another -of-N) and has more than one commit's worth of files.
    await makeDataset(v1, { parquet: { train: Array(20).fill(1), test: [1] }, seed: 1 });
    await makeDataset(v2, { parquet: { train: Array(MAX_FILES_PER_COMMIT + 10).fill(2), test: [3] }, seed: 2 });
    const first = await spawnPush([v1, '--repo', 'acme/atomic', '--hub-url', hub.url, '--json']).done;
    expect(first.code, first.stderr).toBe(0);
    const v1Commit = (JSON.parse(first.stdout) as { commit: string }).commit;

    const before = hub.stats().commits;
    const run = spawnPush([v2, '--repo', 'acme/atomic', '--hub-url', hub.url, '--json']);
    const poll = setInterval(() => {
      if (hub.stats().commits > before) run.kill();
    }, 1);
    const killed = await run.done.finally(() => clearInterval(poll));
    expect(killed.signal, `push finished before it could be killed: ${killed.stdout}`).toBe('SIGKILL');
    expect(hub.stats().commits - before).toBe(1);

    const mid = await loadBranch('acme/atomic', 'main');
    expect(mid.error).toBeUndefined();
    expect(mid.counts).toEqual({ train: 20, test: 1 });
    expect(mid.branches.main).toBe(v1Commit);
    expect(mid.files.filter((f) => f.startsWith('data/'))).toEqual(mid.manifestFiles);

    const again = await spawnPush([v2, '--repo', 'acme/atomic', '--hub-url', hub.url, '--json']).done;
    expect(again.code, again.stderr).toBe(0);
    const summary = JSON.parse(again.stdout) as { commits: string[]; staged_on: string | null; commit: string };
    expect(summary.staged_on).toBe(stagingBranch('main'));
    expect(summary.commits.length).toBeGreaterThan(1);
    const done = await loadBranch('acme/atomic', 'main');
    expect(done.counts).toEqual({ train: 2 * (MAX_FILES_PER_COMMIT + 10), test: 3 });
    // The branch moved to the staging head; the staging branch is gone; the card and manifest
    // describe exactly the data files there (none of v1's are left).
    expect(done.branches).toEqual({ main: summary.commit });
    expect(done.files.filter((f) => f.startsWith('data/'))).toEqual(done.manifestFiles);
  });

  it('no output of push, even on a 500 from the upload URL, contains the token or a URL signature', async () => {
    // A proxy in front of the Hub whose LFS upload URLs answer 500 and echo the URL they got.
    const target = new URL(hub.url);
    const proxy: Server = createServer((req, res) => {
      if (req.method === 'PUT' && req.url?.startsWith('/_lfs/')) {
        req.resume();
        res
          .writeHead(500, { 'Content-Type': 'application/json' })
          .end(JSON.stringify({ error: `storage failed for http://${req.headers.host}${req.url}` }));
        return;
      }
      const fwd = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(fwd);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const dir = path.join(work, 'sig');
      // Random payload: no object of the other tests, so the upload really happens.
      const m = await makeDataset(dir, { parquet: { train: [2] }, seed: 9, payloadBytes: 64 });
      const oids = new Set(m.files.map((f) => f.sha256));
      const seen = requests.length;
      // LFS upload URLs carry the signatures this checks: --no-xet keeps push on LFS.
      const r = await spawnPush([dir, '--repo', 'acme/sig', '--hub-url', url, '--no-xet']).done;
      expect(r.code, r.stdout + r.stderr).toBe(1);
      expect(r.stderr).toMatch(/500/);
      // The push did reach the upload step (the batch handed out signed URLs).
      expect(requests.slice(seen).some((l) => l.includes('/info/lfs/objects/batch'))).toBe(true);
      for (const out of [r.stdout, r.stderr]) {
        expect(out).not.toContain(TOKEN);
        expect(out).not.toMatch(/sig=/);
        // The only long hex in the output is the object id in the URL path, never a signature.
        for (const hex of out.match(/[0-9a-f]{64}/g) ?? []) expect(oids.has(hex), hex).toBe(true);
      }
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('--repo is checked like the Hub checks repo ids before any request carries the token', async () => {
    const dir = path.join(work, 'ids');
    await makeDataset(dir, { parquet: { train: [1] } });
    const token = new HubToken(TOKEN, 'HF_TOKEN');
    const seen = requests.length;
    for (const repo of [
      'acme/..',
      '../outside',
      '..%2F..%2Fx/pwn',
      'acme//x',
      '/x',
      'acme/',
      'acme/a--b',
      'acme/a..b',
      `acme/${'x'.repeat(97)}`,
      'acme/x.git',
      'acme/x/y',
      'acme/ü',
      'acme/-x',
    ]) {
      const err = await pushDataset({ dir, repo, hubUrl: hub.url, token }).catch((e: unknown) => e);
      expect(err, repo).toBeInstanceOf(UsageError);
      expect((err as Error).message, repo).toContain('--repo');
    }
    expect(requests.slice(seen)).toEqual([]);
    // A listed token of the read role: a clear error before anything is created.
    const err = await pushDataset({ dir, repo: 'acme/readonly', hubUrl: hub.url, token: new HubToken(READ_TOKEN, 'HF_TOKEN') }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/the token from HF_TOKEN has the read role .*: push needs a token with write access/);
    expect(requests.slice(seen).some((l) => l.startsWith('POST /api/repos/create'))).toBe(false);
  });
});
