/**
 * The local Hub server against the real Python consumers (huggingface_hub, datasets) with
 * HF_ENDPOINT pointing at it, and both official clients on both sides: JS uploads → Python
 * downloads/loads, Python uploads → JS downloads.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRepo, downloadFile, uploadFiles } from '@huggingface/hub';
import { startHubServer, type HubServer } from '../src/hub/server.ts';
import { runPython } from './helpers/python.ts';

const TOKEN = 'hf_test_python_side_token';
const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

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

async function walk(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(root, p)));
    else out.push(p);
  }
  return out.sort();
}

describe('local Hub server with huggingface_hub and datasets', () => {
  let tmp: string;
  let server: HubServer;
  let env: Record<string, string>;
  const repo = 'acme/tiny-screens';
  let dsDir: string;
  const requests: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'hub-py-'));
    server = await startHubServer({
      dir: path.join(tmp, 'hub'),
      tokens: [{ token: TOKEN, role: 'write' }],
      multipartChunkBytes: 1 * MiB,
      log: (l) => requests.push(l),
    });
    env = {
      HF_ENDPOINT: server.url,
      HF_HUB_OFFLINE: '0',
      HF_DATASETS_OFFLINE: '0',
      HF_TOKEN: TOKEN,
      HF_HOME: path.join(tmp, 'hf-home'),
      HF_HUB_DISABLE_TELEMETRY: '1',
      HF_HUB_DISABLE_PROGRESS_BARS: '1',
      HF_DATASETS_DISABLE_PROGRESS_BARS: '1',
    };
    // A tiny Parquet dataset with a README `configs` block, made by pyarrow.
    dsDir = path.join(tmp, 'ds');
    await runPython(
      `
import json, os, sys, pyarrow as pa, pyarrow.parquet as pq
root = sys.argv[1]
os.makedirs(os.path.join(root, 'data'), exist_ok=True)
pq.write_table(pa.table({'step': [0, 1, 2], 'action': ['click', 'type', 'scroll']}), os.path.join(root, 'data', 'train-00000-of-00001.parquet'))
pq.write_table(pa.table({'step': [10, 11], 'action': ['drag', 'click']}), os.path.join(root, 'data', 'test-00000-of-00001.parquet'))
open(os.path.join(root, 'README.md'), 'w').write('''---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
  - split: test
    path: data/test-*.parquet
---
# tiny screens
''')
print(json.dumps(True))
`,
      { args: [dsDir] },
    );
    const files = await walk(dsDir);
    await createRepo({ repo: { type: 'dataset', name: repo }, hubUrl: server.url, accessToken: TOKEN });
    await uploadFiles({
      repo: { type: 'dataset', name: repo },
      hubUrl: server.url,
      accessToken: TOKEN,
      files: await Promise.all(
        files.map(async (p) => ({ path: p, content: new Blob([new Uint8Array(await readFile(path.join(dsDir, p)))]) })),
      ),
    });
    const tag = await fetch(`${server.url}/api/datasets/${repo}/tag/main`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ tag: 'v1' }),
    });
    expect(tag.status).toBe(200);
    // Move main on, so that revision="v1" really has to select the tag.
    await uploadFiles({
      repo: { type: 'dataset', name: repo },
      hubUrl: server.url,
      accessToken: TOKEN,
      files: [{ path: 'later.txt', content: new Blob(['after v1\n']) }],
    });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  it('snapshot_download at a tag returns the uploaded files byte-identical; list_repo_refs and list_repo_files agree', async () => {
    const local: Record<string, string> = {};
    for (const p of await walk(dsDir)) local[p] = sha256(new Uint8Array(await readFile(path.join(dsDir, p))));
    const got = await runPython<{
      pathsInfo: Record<string, [string, string | null]>;
      tree: Record<string, string>;
      commits: string[];
      files: Record<string, string>;
      tags: Array<[string, string]>;
      branches: string[];
      mainFiles: string[];
      v1Files: string[];
    }>(
      `
import hashlib, json, os, sys
from huggingface_hub import HfApi, snapshot_download
repo = sys.argv[1]
d = snapshot_download(repo, repo_type='dataset', revision='v1')
files = {}
for base, _, names in os.walk(d):
    for n in names:
        p = os.path.join(base, n)
        files[os.path.relpath(p, d).replace(os.sep, '/')] = hashlib.sha256(open(p, 'rb').read()).hexdigest()
api = HfApi()
refs = api.list_repo_refs(repo, repo_type='dataset')
info = {e.path: (type(e).__name__, e.lfs.sha256 if getattr(e, 'lfs', None) else None) for e in api.get_paths_info(repo, ['data/train-00000-of-00001.parquet', 'README.md', 'data', 'missing.txt'], repo_type='dataset', revision='v1')}
tree = {e.path: e.last_commit.title for e in api.list_repo_tree(repo, repo_type='dataset', path_in_repo='data', expand=True)}
commits = [c.title for c in api.list_repo_commits(repo, repo_type='dataset')]
print(json.dumps({
  'pathsInfo': info, 'tree': tree, 'commits': commits,
  'files': files,
  'tags': [[t.name, t.target_commit] for t in refs.tags],
  'branches': [b.name for b in refs.branches],
  'mainFiles': sorted(api.list_repo_files(repo, repo_type='dataset')),
  'v1Files': sorted(api.list_repo_files(repo, repo_type='dataset', revision='v1')),
}))
`,
      { args: [repo], env },
    );
    const { '.gitattributes': attributes, ...fromHub } = got.files;
    expect(attributes).toBeDefined();
    expect(fromHub).toEqual(local);
    expect(got.tags.map((t) => t[0])).toEqual(['v1']);
    expect(got.tags[0]![1]).toMatch(/^[0-9a-f]{40}$/);
    expect(got.branches).toEqual(['main']);
    // paths-info with Python's form body: the Parquet shard went through LFS, README inline.
    expect(got.pathsInfo).toEqual({
      'data/train-00000-of-00001.parquet': ['RepoFile', local['data/train-00000-of-00001.parquet']],
      'README.md': ['RepoFile', null],
      data: ['RepoFolder', null],
    });
    expect(got.tree).toEqual({ 'data/test-00000-of-00001.parquet': 'Add 3 files', 'data/train-00000-of-00001.parquet': 'Add 3 files' });
    expect(got.commits).toEqual(['Add 1 files', 'Add 3 files', 'initial commit']);
    expect(got.v1Files).toEqual(['.gitattributes', ...Object.keys(local)].sort());
    expect(got.mainFiles).toEqual(['.gitattributes', ...Object.keys(local), 'later.txt'].sort());
  });

  it('datasets.load_dataset reads the rows at the tag, also with streaming=True', async () => {
    const got = await runPython<{ counts: Record<string, number>; train: unknown[]; streamFirst: Record<string, unknown> }>(
      `
import json, sys
from datasets import load_dataset
repo = sys.argv[1]
ds = load_dataset(repo, revision='v1')
stream = load_dataset(repo, revision='v1', streaming=True)
print(json.dumps({
  'counts': {k: v.num_rows for k, v in ds.items()},
  'train': ds['train'].to_list(),
  'streamFirst': next(iter(stream['test'])),
}))
`,
      { args: [repo], env },
    );
    expect(got.counts).toEqual({ train: 3, test: 2 });
    expect(got.train).toEqual([
      { step: 0, action: 'click' },
      { step: 1, action: 'type' },
      { step: 2, action: 'scroll' },
    ]);
    expect(got.streamFirst).toEqual({ step: 10, action: 'drag' });
  });

  it('huggingface_hub uploads over Xet (upload_file, upload_folder) and the JS client downloads them byte-identical', async () => {
    const up = path.join(tmp, 'py-upload');
    await mkdir(path.join(up, 'folder', 'sub'), { recursive: true });
    const big = bytes(3 * MiB + 17, 5); // ≥ 2 × 1 MiB chunks: multipart from Python
    const small = bytes(2000, 6);
    await writeFile(path.join(up, 'big.bin'), big);
    await writeFile(path.join(up, 'folder', 'sub', 'small.bin'), small);
    await writeFile(path.join(up, 'folder', 'notes.txt'), 'python was here\n');
    await writeFile(path.join(up, 'folder', 'README.md'), '---\nlicense: mit\n---\n# from python\n');
    await writeFile(path.join(up, 'bad-README.md'), '---\nlicense: [mit\n---\n');
    const before = server.stats();
    const got = await runPython<{ oid: string; bad: string; devFiles: string[]; mainFiles: string[]; branches: string[] }>(
      `
import json, sys
from huggingface_hub import HfApi
repo, up = sys.argv[1], sys.argv[2]
api = HfApi()
api.create_repo('acme/py-made', repo_type='dataset', private=True)
api.upload_file(path_or_fileobj=up + '/big.bin', path_in_repo='blobs/big.bin', repo_id='acme/py-made', repo_type='dataset')
info = api.upload_folder(folder_path=up + '/folder', path_in_repo='folder', repo_id='acme/py-made', repo_type='dataset', commit_message='folder from python')
api.create_tag('acme/py-made', repo_type='dataset', tag='py-v1')
try:
    api.upload_file(path_or_fileobj=up + '/bad-README.md', path_in_repo='README.md', repo_id='acme/py-made', repo_type='dataset')
    bad = 'accepted'
except ValueError as e:
    bad = str(e)
api.create_branch('acme/py-made', repo_type='dataset', branch='dev', revision='py-v1')
api.upload_file(path_or_fileobj=b'dev only\\n', path_in_repo='dev.txt', repo_id='acme/py-made', repo_type='dataset', revision='dev')
dev_files = sorted(api.list_repo_files('acme/py-made', repo_type='dataset', revision='dev'))
main_files = sorted(api.list_repo_files('acme/py-made', repo_type='dataset'))
api.delete_branch('acme/py-made', repo_type='dataset', branch='dev')
branches = [b.name for b in api.list_repo_refs('acme/py-made', repo_type='dataset').branches]
print(json.dumps({'oid': info.oid, 'bad': bad, 'devFiles': dev_files, 'mainFiles': main_files, 'branches': branches}))
`,
      { args: [repo, up], env },
    );
    expect(got.oid).toMatch(/^[0-9a-f]{40}$/);
    expect(got.bad).toMatch(/Invalid metadata in README.md/);
    const published = ['.gitattributes', 'blobs/big.bin', 'folder/README.md', 'folder/notes.txt', 'folder/sub/small.bin'];
    expect(got.mainFiles).toEqual(published);
    expect(got.devFiles).toEqual([...published, 'dev.txt'].sort());
    expect(got.branches).toEqual(['main']);
    // The default huggingface_hub (hf_xet installed) uploads the binary files over Xet, never LFS.
    expect(server.stats().lfsBytesReceived).toBe(before.lfsBytesReceived);
    expect(server.stats().xetBytesReceived - before.xetBytesReceived).toBeGreaterThan(big.length + small.length);
    expect(requests.some((l) => /^GET \/api\/datasets\/acme\/py-made\/xet-write-token\/main 200$/.test(l))).toBe(true);
    expect(requests.filter((l) => /^POST \/api\/validate-yaml /.test(l))).toEqual([
      'POST /api/validate-yaml 200',
      'POST /api/validate-yaml 400',
    ]);
    const read = async (p: string): Promise<Uint8Array> => {
      const b = await downloadFile({
        repo: { type: 'dataset', name: 'acme/py-made' },
        path: p,
        revision: 'py-v1',
        hubUrl: server.url,
        accessToken: TOKEN,
      });
      return new Uint8Array(await b!.arrayBuffer());
    };
    expect(sha256(await read('blobs/big.bin'))).toBe(sha256(big));
    expect(sha256(await read('folder/sub/small.bin'))).toBe(sha256(small));
    expect(new TextDecoder().decode(await read('folder/notes.txt'))).toBe('python was here\n');
  });

  it('Python sees a private repo without a token as not found, and a wrong token as a 401 with a clear message', async () => {
    const got = await runPython<{ noToken: string; wrong: [string, number, string] }>(
      `
import json
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
try:
    HfApi(token=False).dataset_info('acme/py-made')
    no_token = 'visible'
except Exception as e:
    no_token = type(e).__name__
try:
    HfApi(token='wrong-token').dataset_info('acme/tiny-screens')
    wrong = ['ok', 200, '']
except HfHubHTTPError as e:
    wrong = [type(e).__name__, e.response.status_code, e.response.json().get('error', '')]
print(json.dumps({'noToken': no_token, 'wrong': wrong}))
`,
      { env: { ...env, HF_TOKEN: '' } },
    );
    expect(got.noToken).toBe('RepositoryNotFoundError');
    expect(got.wrong[1]).toBe(401);
    expect(got.wrong[2]).toMatch(/start with "hf_"/);
  });
});
