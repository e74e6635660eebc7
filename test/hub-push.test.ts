/**
 * `nusomi-hf push` end to end against the local Hub server, checked with the real Python
 * huggingface_hub and datasets (HF_ENDPOINT at the server).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { startHubServer } from '../src/hub/server.ts';
import type { HubServer } from '../src/hub/server.ts';
import { makeDataset, sha256, writeManifest } from './hub-push.fixture.ts';
import { CLI_BIN, finished, spawnCli } from './helpers/cli.ts';
import type { CliRun } from './helpers/cli.ts';
import { runPython } from './helpers/python.ts';
import { testToken } from './helpers/bytes.ts';

const TOKEN = testToken();

let work: string;
let hubDir: string;
let hub: HubServer;
let childHome: string;
/** Everything any push printed, for the token grep. */
const printed: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'hub-push-'));
  hubDir = path.join(work, 'hub');
  childHome = path.join(work, 'cli-home');
  mkdirSync(childHome);
  hub = await startHubServer({ dir: hubDir, tokens: [{ token: TOKEN, role: 'write' }] });
});

afterAll(async () => {
  await hub?.stop();
  rmSync(work, { recursive: true, force: true });
});

function spawnPush(args: string[], env: Record<string, string> = {}): { done: Promise<CliRun>; kill: () => void } {
  const childEnv: Record<string, string | undefined> = { HF_TOKEN: TOKEN, HF_HOME: childHome, ...env, HF_ENDPOINT: undefined };
  if (env.HF_TOKEN === '') childEnv.HF_TOKEN = undefined;
  const child = spawnCli(['push', ...args], { entry: CLI_BIN, env: childEnv });
  const done = finished(child).then((r) => {
    printed.push(r.stdout, r.stderr);
    return r;
  });
  return { done, kill: () => child.kill('SIGKILL') };
}

const push = (args: string[], env?: Record<string, string>): Promise<CliRun> => spawnPush(args, env).done;

interface Summary {
  repo: string;
  commit: string;
  tag: string | null;
  uploaded_files: number;
  uploaded_bytes: number;
  transfer: 'xet' | 'lfs' | null;
  sent_bytes: number | null;
  deduplicated_bytes: number | null;
  skipped_bytes: number;
  deleted_files: number;
  unchanged_files: number;
  commits: string[];
}

async function pushJson(dir: string, args: string[]): Promise<Summary> {
  const r = await push([dir, '--hub-url', hub.url, '--json', ...args]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Summary;
}

const pyEnv = (): Record<string, string> => ({
  HF_ENDPOINT: hub.url,
  HF_HUB_OFFLINE: '0',
  HF_DATASETS_OFFLINE: '0',
  HF_HOME: path.join(work, `py-home-${Math.random().toString(36).slice(2)}`),
  HF_TOKEN: '',
});

/** Bytes of a file as published at a revision (the card and manifest are made for the repo by push). */
async function publishedSize(repo: string, rev: string, file: string): Promise<number> {
  const res = await fetch(`${hub.url}/datasets/${repo}/resolve/${rev}/${file}`, { method: 'HEAD' });
  expect(res.status, file).toBe(200);
  return Number(res.headers.get('content-length'));
}

async function pushedBytes(manifest: DatasetManifest, formats: string[], repo: string, rev: string): Promise<number> {
  const files = manifest.files.filter((f) => formats.includes(f.format));
  return (
    files.reduce((n, f) => n + f.bytes, 0) +
    (await publishedSize(repo, rev, 'README.md')) +
    (await publishedSize(repo, rev, 'dataset-manifest.json'))
  );
}

async function rewriteShard(dir: string, manifest: DatasetManifest, shard: string, rows: number): Promise<void> {
  await runPython(
    `
import sys, json, pyarrow as pa, pyarrow.parquet as pq
p, rows = sys.argv[1], int(sys.argv[2])
pq.write_table(pa.table({"session_id": [f"changed_{r}" for r in range(rows)], "step": pa.array(list(range(rows)), pa.int32()), "payload": pa.array([b"z" * 50] * rows, pa.binary())}), p, compression="none")
print(json.dumps(True))
`,
    { args: [path.join(dir, shard), String(rows)] },
  );
  const entry = manifest.files.find((f) => f.path === shard)!;
  const oldRows = entry.rows!;
  entry.rows = rows;
  entry.bytes = statSync(path.join(dir, shard)).size;
  entry.sha256 = sha256(path.join(dir, shard));
  manifest.splits[entry.split!]!.rows += rows - oldRows;
  writeManifest(dir, manifest);
}

describe('nusomi-hf push to the local Hub', () => {
  let dsDir: string;
  let manifest: DatasetManifest;
  let v1: string;

  it('publishes a tagged version that huggingface_hub and datasets read back exactly', async () => {
    dsDir = path.join(work, 'ds');
    manifest = await makeDataset(dsDir, { parquet: { train: [5, 4], test: [3] }, webdataset: { train: [3, 2] } });
    const before = hub.stats();
    const s = await pushJson(dsDir, ['--repo', 'acme/steps', '--tag', 'v1', '--formats', 'parquet,webdataset']);
    v1 = s.commit;
    expect(s.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(s.tag).toBe('v1');
    expect(s.uploaded_files).toBe(2 + manifest.files.length);
    expect(s.uploaded_bytes).toBe(await pushedBytes(manifest, ['parquet', 'webdataset'], 'acme/steps', s.commit));
    expect(s.unchanged_files).toBe(0);
    // Data files went over Xet (the server offers it): what push says it sent is what the server
    // received as xorbs and shards, plus the card and manifest sent inline.
    expect(s.transfer).toBe('xet');
    const after = hub.stats();
    expect(after.lfsBytesReceived).toBe(before.lfsBytesReceived);
    const inline =
      (await publishedSize('acme/steps', s.commit, 'README.md')) + (await publishedSize('acme/steps', s.commit, 'dataset-manifest.json'));
    expect(s.sent_bytes).toBe(after.xetBytesReceived - before.xetBytesReceived + inline);
    expect(s.skipped_bytes).toBe(0);

    const expected = Object.fromEntries(manifest.files.map((f) => [f.path, sha256(path.join(dsDir, f.path))]));
    const py = await runPython<{
      files: Record<string, string>;
      listed: string[];
      tags: Record<string, string>;
      counts: Record<string, number>;
    }>(
      `
import json, hashlib, os
from huggingface_hub import HfApi, snapshot_download
from datasets import load_dataset
repo = "acme/steps"
snap = snapshot_download(repo, repo_type="dataset", revision="v1")
files = {}
for root, _, names in os.walk(snap):
    for n in names:
        p = os.path.join(root, n)
        files[os.path.relpath(p, snap)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
api = HfApi()
refs = api.list_repo_refs(repo, repo_type="dataset")
ds = load_dataset(repo, revision="v1")
print(json.dumps({"files": files, "listed": sorted(api.list_repo_files(repo, repo_type="dataset", revision="v1")),
                  "tags": {t.name: t.target_commit for t in refs.tags}, "counts": {k: v.num_rows for k, v in ds.items()}}))
`,
      { env: pyEnv() },
    );
    for (const [p, sha] of Object.entries(expected)) expect(py.files[p], p).toBe(sha);
    expect(py.listed).toEqual([...Object.keys(expected), '.gitattributes', 'README.md', 'dataset-manifest.json'].sort());
    expect(py.tags).toEqual({ v1: s.commit });
    expect(py.counts).toEqual({ train: 9, test: 3 });
  });

  it('re-pushing the same version uploads nothing and makes no commit', async () => {
    const before = hub.stats();
    const r = await push([dsDir, '--repo', 'acme/steps', '--hub-url', hub.url, '--tag', 'v1', '--formats', 'parquet,webdataset']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('nothing to push');
    expect(r.stdout).toContain(`commit: ${v1}`);
    expect(r.stdout).toContain('load_dataset("acme/steps", revision="v1")');
    const after = hub.stats();
    expect(after.commits).toBe(before.commits);
    expect(after.lfsBytesReceived).toBe(before.lfsBytesReceived);
    const s = await pushJson(dsDir, ['--repo', 'acme/steps', '--formats', 'parquet,webdataset']);
    expect(s).toMatchObject({
      commit: v1,
      uploaded_files: 0,
      uploaded_bytes: 0,
      deleted_files: 0,
      unchanged_files: 2 + manifest.files.length,
      commits: [],
    });
    expect(hub.stats().commits).toBe(before.commits);
  });

  it('--dry-run prints the plan and changes nothing', async () => {
    await rewriteShard(dsDir, manifest, 'data/train-00001-of-00002.parquet', 7);
    const before = hub.stats();
    const r = await push([dsDir, '--repo', 'acme/steps', '--hub-url', hub.url, '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/change\s+data\/train-00001-of-00002\.parquet/);
    expect(r.stdout).toMatch(/change\s+dataset-manifest\.json/);
    // The card's split counts changed too.
    expect(r.stdout).toMatch(/change\s+README\.md/);
    expect(r.stdout).toContain('0 to add, 3 to change, 0 to delete');
    expect(hub.stats()).toEqual(before);
  });

  it('after one shard changes, only that shard (and the manifest) is uploaded', async () => {
    const shard = manifest.files.find((f) => f.path === 'data/train-00001-of-00002.parquet')!;
    const before = hub.stats();
    const s = await pushJson(dsDir, ['--repo', 'acme/steps', '--formats', 'parquet,webdataset']);
    expect(s.uploaded_files).toBe(3);
    expect(s.uploaded_bytes).toBe(
      shard.bytes +
        (await publishedSize('acme/steps', s.commit, 'dataset-manifest.json')) +
        (await publishedSize('acme/steps', s.commit, 'README.md')),
    );
    expect(s.commits).toHaveLength(1);
    expect(s.commit).not.toBe(v1);
    const after = hub.stats();
    expect(after.lfsBytesReceived).toBe(before.lfsBytesReceived);
    expect(s.transfer).toBe('xet');
    expect(s.sent_bytes! - s.uploaded_bytes + shard.bytes).toBe(after.xetBytesReceived - before.xetBytesReceived);
    expect(s.skipped_bytes).toBe(manifest.files.filter((f) => f.path !== shard.path).reduce((n, f) => n + f.bytes, 0));
    expect(after.commits - before.commits).toBe(1);
  });

  it('refuses to move an existing tag without --force-tag, and moves it with', async () => {
    const r = await push([dsDir, '--repo', 'acme/steps', '--hub-url', hub.url, '--tag', 'v1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tag "v1" already exists on commit [0-9a-f]{40}.*--force-tag/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const s = await pushJson(dsDir, ['--repo', 'acme/steps', '--tag', 'v1', '--force-tag']);
    const tags = await runPython<Record<string, string>>(
      `
import json
from huggingface_hub import HfApi
print(json.dumps({t.name: t.target_commit for t in HfApi().list_repo_refs("acme/steps", repo_type="dataset").tags}))
`,
      { env: pyEnv() },
    );
    expect(tags.v1).toBe(s.commit);
    expect(tags.v1).not.toBe(v1);
  });

  it('deletes files of managed folders that the new version no longer has', async () => {
    const gone = 'data/train-00001-of-00002.parquet';
    rmSync(path.join(dsDir, gone));
    manifest.files = manifest.files.filter((f) => f.path !== gone);
    manifest.splits.train!.rows = 5;
    writeManifest(dsDir, manifest);
    const s = await pushJson(dsDir, ['--repo', 'acme/steps', '--tag', 'v2']);
    expect(s.deleted_files).toBe(1);
    expect(s.uploaded_files).toBe(2); // the manifest and the card (its split counts)
    const py = await runPython<{ listed: string[]; counts: Record<string, number> }>(
      `
import json
from huggingface_hub import HfApi
from datasets import load_dataset
ds = load_dataset("acme/steps", revision="v2")
print(json.dumps({"listed": HfApi().list_repo_files("acme/steps", repo_type="dataset", revision="v2"), "counts": {k: v.num_rows for k, v in ds.items()}}))
`,
      { env: pyEnv() },
    );
    expect(py.listed).not.toContain(gone);
    // The webdataset shards were not pushed this time but are still this version's: kept.
    expect(py.listed).toContain('webdataset/train-000000.tar');
    expect(py.counts).toEqual({ train: 5, test: 3 });
  });

  it('--branch pushes to a new branch made from the default branch', async () => {
    const main = await pushJson(dsDir, ['--repo', 'acme/steps', '--dry-run']);
    const s = await pushJson(dsDir, ['--repo', 'acme/steps', '--branch', 'dev']);
    // Same data as main: the branch is created at main's head and only the card changes (its
    // snippets name the branch).
    expect(s.commits).toHaveLength(1);
    expect(s.uploaded_files).toBe(1);
    const card = await (await fetch(`${hub.url}/datasets/acme/steps/resolve/dev/README.md`)).text();
    expect(card).toContain('load_dataset("acme/steps", revision="dev")');
    const branches = await runPython<Record<string, string>>(
      `
import json
from huggingface_hub import HfApi
print(json.dumps({b.name: b.target_commit for b in HfApi().list_repo_refs("acme/steps", repo_type="dataset").branches}))
`,
      { env: pyEnv() },
    );
    expect(branches).toEqual({ main: main.commit, dev: s.commit });
  });

  it('a push killed during LFS uploads, re-run, uploads only what the Hub does not have yet', async () => {
    const bigDir = path.join(work, 'big');
    const big = await makeDataset(bigDir, { parquet: { train: Array(16).fill(8), test: [1] }, payloadBytes: 1_000_000 });
    const lfsTotal = big.files.reduce((n, f) => n + f.bytes, 0);
    const before = hub.stats();
    // LFS resume semantics (whole objects the Hub stores or not): --no-xet keeps push on LFS.
    const run = spawnPush([bigDir, '--repo', 'acme/big', '--hub-url', hub.url, '--json', '--no-xet']);
    let killedAt = -1;
    const poll = setInterval(() => {
      const got = hub.stats().lfsBytesReceived - before.lfsBytesReceived;
      if (killedAt < 0 && got >= 20_000_000) {
        killedAt = got;
        run.kill();
      }
    }, 2);
    const first = await run.done.finally(() => clearInterval(poll));
    expect(first.signal, `push finished before it could be killed: ${first.stdout}`).toBe('SIGKILL');
    expect(hub.stats().commits).toBe(before.commits + 1); // only the repo's initial commit
    expect(killedAt).toBeLessThan(lfsTotal);
    // After SIGKILL the kernel still delivers what the dead client had in its socket buffer (MBs on
    // loopback): wait until the server has stopped receiving before asking what it stores.
    for (let last = -1, now = hub.stats().lfsBytesReceived; now !== last; now = hub.stats().lfsBytesReceived) {
      last = now;
      await new Promise((r) => setTimeout(r, 500));
    }

    // What the Hub already stores, asked the way git-lfs does: objects without an upload action.
    const batch = (await (
      await fetch(`${hub.url}/datasets/acme/big.git/info/lfs/objects/batch`, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${TOKEN}`,
          'Content-Type': 'application/vnd.git-lfs+json',
          Accept: 'application/vnd.git-lfs+json',
        },
        body: JSON.stringify({
          operation: 'upload',
          transfers: ['basic'],
          hash_algo: 'sha_256',
          objects: big.files.map((f) => ({ oid: f.sha256, size: f.bytes })),
        }),
      })
    ).json()) as { objects: Array<{ oid: string; size: number; actions?: unknown }> };
    const storedBytes = batch.objects.filter((o) => !o.actions).reduce((n, o) => n + o.size, 0);
    expect(storedBytes).toBeGreaterThan(0);

    const mid = hub.stats();
    const second = await run2(bigDir);
    expect(second.uploaded_bytes).toBe((await pushedBytes(big, ['parquet'], 'acme/big', second.commit)) - storedBytes);
    expect(hub.stats().lfsBytesReceived - mid.lfsBytesReceived).toBe(lfsTotal - storedBytes);
    expect(hub.stats().commits - mid.commits).toBe(1);
    const listed = await runPython<string[]>(
      `
import json
from huggingface_hub import HfApi
print(json.dumps(HfApi().list_repo_files("acme/big", repo_type="dataset")))
`,
      { env: pyEnv() },
    );
    for (const f of big.files) expect(listed).toContain(f.path);
  });

  async function run2(dir: string): Promise<Summary> {
    return pushJson(dir, ['--repo', 'acme/big', '--no-xet']);
  }

  it('--private creates a repo that is not found without a token', async () => {
    const s = await pushJson(dsDir, ['--repo', 'acme/secret', '--private']);
    expect(s.commit).toMatch(/^[0-9a-f]{40}$/);
    const py = await runPython<{ anon: string; authed: number }>(
      `
import json, os
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError
try:
    HfApi(token=False).list_repo_files("acme/secret", repo_type="dataset"); anon = "visible"
except RepositoryNotFoundError:
    anon = "not found"
print(json.dumps({"anon": anon, "authed": len(HfApi(token=os.environ["TOK"]).list_repo_files("acme/secret", repo_type="dataset"))}))
`,
      { env: { ...pyEnv(), TOK: TOKEN } },
    );
    // README, manifest, the Parquet shards, and the repo's .gitattributes.
    expect(py).toEqual({ anon: 'not found', authed: manifest.files.filter((f) => f.format === 'parquet').length + 3 });
  });

  it('a wrong or missing token is a clear error with exit 1', async () => {
    const wrong = await push([dsDir, '--repo', 'acme/steps', '--hub-url', hub.url], { HF_TOKEN: 'not_a_hub_token_12345' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/token from HF_TOKEN is not a Hugging Face token/);
    expect(wrong.stderr).not.toContain('not_a_hub_token_12345');
    const none = await push([dsDir, '--repo', 'acme/steps', '--hub-url', hub.url], { HF_TOKEN: '' });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no Hub token: set HF_TOKEN/);
    // The token file of huggingface_hub is used when HF_TOKEN is not set.
    const home = path.join(work, 'home-with-token');
    mkdirSync(home);
    writeFileSync(path.join(home, 'token'), 'bad_file_token_value\n');
    const fromFile = await push([dsDir, '--repo', 'acme/steps', '--hub-url', hub.url], { HF_TOKEN: '', HF_HOME: home });
    expect(fromFile.code).toBe(1);
    expect(fromFile.stderr).toContain(`the token file ${path.join(home, 'token')}`);
    expect(fromFile.stderr).not.toContain('bad_file_token_value');
  });

  it('refuses a format the dataset does not have (exit 2), before touching the Hub', async () => {
    const before = hub.stats();
    const r = await push([dsDir, '--repo', 'acme/steps', '--hub-url', hub.url, '--formats', 'parquet,arrow']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--formats arrow: the dataset in .* has no arrow files \(it has: /);
    expect(hub.stats()).toEqual(before);
  });

  it('an unreachable Hub is a one-line error', async () => {
    const r = await push([dsDir, '--repo', 'acme/steps', '--hub-url', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the Hub at http:\/\/127\.0\.0\.1:9/);
  });

  it('never prints the token or writes it to the dataset dir or the server storage', () => {
    expect(printed.length).toBeGreaterThan(10);
    for (const out of printed) expect(out).not.toContain(TOKEN);
    const needle = Buffer.from(TOKEN);
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
    const files = [...walk(dsDir), ...walk(hubDir), ...walk(childHome)];
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) expect(readFileSync(f).includes(needle), f).toBe(false);
  });
});
