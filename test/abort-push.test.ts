/**
 * Aborting `push` through an AbortSignal against the local Hub server: mid-upload of a one-commit
 * push, and between the commits of a staged push. Either way it rejects with an AbortError, no
 * tag is made, the branch stays on the old version; a re-run completes and `datasets` loads it.
 * Push reports its progress as events on the way (hash, upload, commit).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FILES_PER_COMMIT, pushDataset, stagingBranch } from '../src/hub/push.ts';
import type { PushProgressEvent } from '../src/hub/push.ts';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { makeDataset } from './hub-push.fixture.ts';
import { testToken } from './helpers/bytes.ts';
import { runCli } from './helpers/cli.ts';
import { runPython } from './helpers/python.ts';

const TOKEN = testToken();
const token = new HubToken(TOKEN, 'HF_TOKEN');

let work: string;
let hub: HubServer;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'nusomi-abort-push-'));
  hub = await startHubServer({ dir: path.join(work, 'hub'), tokens: [{ token: TOKEN, role: 'write' }] });
});
afterAll(async () => {
  await hub?.stop();
  rmSync(work, { recursive: true, force: true });
});

interface Refs {
  branches: Array<{ name: string; targetCommit: string }>;
  tags: Array<{ name: string; targetCommit: string }>;
}

async function refs(repo: string): Promise<Refs> {
  const res = await fetch(`${hub.url}/api/datasets/${repo}/refs`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Refs;
}

const branchHead = async (repo: string, name: string) => (await refs(repo)).branches.find((b) => b.name === name)?.targetCommit;

/** Rows per split as `datasets.load_dataset` reads the repo at `revision`. */
function loadCounts(repo: string, revision: string): Promise<Record<string, number>> {
  return runPython<Record<string, number>>(
    'import datasets, json, sys\nds = datasets.load_dataset(sys.argv[1], revision=sys.argv[2])\nprint(json.dumps({k: v.num_rows for k, v in ds.items()}))',
    {
      args: [repo, revision],
      env: {
        HF_ENDPOINT: hub.url,
        HF_HUB_OFFLINE: '0',
        HF_DATASETS_OFFLINE: '0',
        HF_TOKEN: TOKEN,
        HF_HOME: path.join(work, `py-${repo.replace('/', '-')}-${revision}`),
      },
    },
  );
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected the push to be aborted');
    },
    (err: unknown) => err as Error,
  );
}

describe('push aborted through its AbortSignal', () => {
  it('between the commits of a staged push: AbortError, no tag, the branch on v1; a re-run completes and loads', async () => {
    const repo = 'acme/abort-staged';
    const v1 = path.join(work, 'staged-v1');
    const v2 = path.join(work, 'staged-v2');
    await makeDataset(v1, { parquet: { train: [1, 1], test: [1] }, seed: 1 });
    // More than one commit's worth of files: staged on a branch, then the branch moves.
    await makeDataset(v2, { parquet: { train: Array(MAX_FILES_PER_COMMIT + 10).fill(2), test: [3] }, seed: 2 });
    const first = await pushDataset({ dir: v1, repo, tag: 'v1', hubUrl: hub.url, token });
    const commitsBefore = hub.stats().commits;

    const controller = new AbortController();
    const events: PushProgressEvent[] = [];
    const err = await rejection(
      pushDataset({
        dir: v2,
        repo,
        tag: 'v2',
        hubUrl: hub.url,
        token,
        signal: controller.signal,
        onProgress: (e) => {
          events.push(e);
          if (e.phase === 'commit' && e.commitsDone === 1) controller.abort();
        },
      }),
    );
    expect(err.name).toBe('AbortError');
    // One staging commit made, then stopped before the next.
    expect(hub.stats().commits - commitsBefore).toBe(1);
    const mid = await refs(repo);
    expect(mid.tags.map((t) => t.name)).toEqual(['v1']);
    expect(mid.branches.find((b) => b.name === 'main')?.targetCommit).toBe(first.commit);
    // As after a failure: the staging branch stays for the next run, which starts it afresh.
    expect(mid.branches.map((b) => b.name)).toContain(stagingBranch('main'));
    expect(await loadCounts(repo, 'main')).toEqual({ train: 2, test: 1 });

    // Events on the way: hashing, then upload with the planned totals, then the first commit.
    const phases = events.map((e) => e.phase).filter((p, i, a) => i === 0 || a[i - 1] !== p);
    expect(phases).toEqual(['hash', 'upload', 'commit']);
    const hashed = events.filter((e) => e.phase === 'hash');
    expect(hashed.at(-1)).toMatchObject({ filesDone: hashed[0]!.filesTotal, bytesDone: hashed[0]!.bytesTotal, etaSeconds: 0 });
    const uploads = events.filter((e) => e.phase === 'upload');
    const totals = { filesTotal: uploads[0]!.filesTotal, bytesTotal: uploads[0]!.bytesTotal, commitsTotal: 2 };
    expect(totals.filesTotal).toBeGreaterThan(MAX_FILES_PER_COMMIT);
    for (const e of uploads) expect(e).toMatchObject(totals);
    for (let i = 1; i < uploads.length; i++) expect(uploads[i]!.bytesDone).toBeGreaterThanOrEqual(uploads[i - 1]!.bytesDone);
    expect(events.at(-1)).toMatchObject({ phase: 'commit', commitsDone: 1, filesDone: MAX_FILES_PER_COMMIT });

    const again = await pushDataset({ dir: v2, repo, tag: 'v2', hubUrl: hub.url, token });
    // The totals announced were the plan's.
    expect(totals.filesTotal).toBe(again.plan.add.length + again.plan.change.length);
    expect(totals.bytesTotal).toBe(again.plan.uploadBytes);
    const after = await refs(repo);
    expect(after.branches.map((b) => b.name)).toEqual(['main']);
    expect(after.tags.find((t) => t.name === 'v2')?.targetCommit).toBe(again.commit);
    expect(await loadCounts(repo, 'v2')).toEqual({ train: (MAX_FILES_PER_COMMIT + 10) * 2, test: 3 });
  }, 240_000);

  it('mid-upload of a one-commit push: AbortError, no commit, no tag; a re-run completes with every byte counted', async () => {
    const repo = 'acme/abort-upload';
    const v1 = path.join(work, 'upload-v1');
    const v2 = path.join(work, 'upload-v2');
    await makeDataset(v1, { parquet: { train: [1], test: [1] }, seed: 3 });
    // Large shards go through LFS, one at a time: the abort lands while they upload.
    await makeDataset(v2, { parquet: { train: [4, 4, 4, 4], test: [4] }, payloadBytes: 512 * 1024, seed: 4 });
    const first = await pushDataset({ dir: v1, repo, hubUrl: hub.url, token });
    const commitsBefore = hub.stats().commits;

    const controller = new AbortController();
    const err = await rejection(
      pushDataset({
        dir: v2,
        repo,
        tag: 'v2',
        hubUrl: hub.url,
        token,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.phase === 'upload' && e.bytesDone > 0) controller.abort();
        },
      }),
    );
    expect(err.name).toBe('AbortError');
    expect(hub.stats().commits).toBe(commitsBefore);
    expect(await branchHead(repo, 'main')).toBe(first.commit);
    expect((await refs(repo)).tags).toEqual([]);

    const events: PushProgressEvent[] = [];
    const again = await pushDataset({ dir: v2, repo, tag: 'v2', hubUrl: hub.url, token, onProgress: (e) => events.push(e) });
    const last = events.at(-1)!;
    expect(last).toMatchObject({ phase: 'commit', commitsDone: 1, commitsTotal: 1, etaSeconds: 0 });
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.filesDone).toBe(last.filesTotal);
    expect((await refs(repo)).tags.find((t) => t.name === 'v2')?.targetCommit).toBe(again.commit);
    expect(await loadCounts(repo, 'v2')).toEqual({ train: 16, test: 4 });
  }, 240_000);
});

describe('the CLI push bar', () => {
  it('NUSOMI_HF_PROGRESS=1 draws the upload events on a non-TTY stderr, ending on every planned file and byte', async () => {
    const dir = path.join(work, 'bar');
    const manifest = await makeDataset(dir, { parquet: { train: [2, 2], test: [1] }, seed: 5 });
    const r = await runCli(['push', dir, '--repo', 'acme/bar', '--hub-url', hub.url], {
      HF_TOKEN: TOKEN,
      HF_HOME: path.join(work, 'bar-home'),
      HF_ENDPOINT: undefined,
      NUSOMI_HF_PROGRESS: '1',
    });
    expect(r.code, r.stderr).toBe(0);
    const bars = r.stderr.split('\n').filter((l) => l.startsWith('push ['));
    // A new repo: every listed file plus README.md and dataset-manifest.json is uploaded.
    const files = manifest.files.length + 2;
    expect(bars.at(-1)).toMatch(new RegExp(` ${files}/${files} files \\| ([0-9.]+ [KMG]?i?B)/\\1 \\| ETA 0s$`));
  }, 120_000);
});
