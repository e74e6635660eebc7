import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { hashFile, planIsEmpty, planPush, readDatasetManifest, selectLocalFiles } from '../src/hub/plan.ts';
import type { LocalFile, RemoteFile } from '../src/hub/plan.ts';
import { commitChunks, MAX_FILES_PER_COMMIT } from '../src/hub/push.ts';
import { HubToken, resolveHubToken, scrubSecret, tokenFilePath } from '../src/hub/token.ts';
import { makeDataset, writeManifest } from './hub-push.fixture.ts';
import { testToken } from './helpers/bytes.ts';

const TOKEN = testToken();

describe('push token', () => {
  it('comes from HF_TOKEN first, then $HF_HOME/token, else none', () => {
    const home = mkdtempSync(path.join(os.tmpdir(), 'hfhome-'));
    try {
      expect(resolveHubToken({ HF_HOME: home })).toBeNull();
      writeFileSync(path.join(home, 'token'), `${TOKEN}\n`);
      const fromFile = resolveHubToken({ HF_HOME: home })!;
      expect(fromFile.reveal()).toBe(TOKEN);
      expect(fromFile.source).toBe('token file');
      expect(fromFile.describeSource()).toContain(path.join(home, 'token'));
      const fromEnv = resolveHubToken({ HF_HOME: home, HF_TOKEN: 'hf_other' })!;
      expect(fromEnv.reveal()).toBe('hf_other');
      expect(fromEnv.source).toBe('HF_TOKEN');
      expect(tokenFilePath({ HOME: '/h', XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/token');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('never shows its value when printed, serialised or inspected', () => {
    const t = new HubToken(TOKEN, 'HF_TOKEN');
    const shown = [String(t), `${t}`, JSON.stringify({ t }), inspect(t), inspect({ nested: { t } }), t.describeSource()];
    for (const s of shown) expect(s).not.toContain(TOKEN);
    expect(t.reveal()).toBe(TOKEN);
  });

  it('scrubs the token, its URL-encoded form and bearer credentials from messages', () => {
    const msg = `failed at http://h/x?t=${TOKEN} with ${TOKEN}; header Authorization: Bearer ${TOKEN}`;
    const out = scrubSecret(msg, TOKEN);
    expect(out).not.toContain(TOKEN);
    expect(out).toContain('Bearer hf_***');
    expect(scrubSecret('Authorization: Bearer hf_zzz123', undefined)).toBe('Authorization: Bearer hf_***');
  });
});

describe('push plan', () => {
  let dir: string;
  let manifest: DatasetManifest;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'push-plan-'));
    manifest = await makeDataset(dir, { parquet: { train: [5, 4], test: [3] }, webdataset: { train: [2] } });
    // A support file of the webdataset format.
    writeFileSync(path.join(dir, 'webdataset', 'index.json'), '{}\n');
    const abs = path.join(dir, 'webdataset', 'index.json');
    manifest.files.push({
      path: 'webdataset/index.json',
      format: 'webdataset',
      split: null,
      rows: null,
      bytes: readFileSync(abs).length,
      sha256: await hashFile(abs, 'sha256'),
    });
    manifest.files.sort((a, b) => (a.path < b.path ? -1 : 1));
    writeManifest(dir, manifest);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const asRemoteLfs = (f: LocalFile): RemoteFile => ({ path: f.path, size: f.bytes, oid: 'x'.repeat(40), lfsOid: f.sha256 });
  const asRemoteInline = (f: LocalFile): RemoteFile => {
    const bytes = readFileSync(f.absPath);
    const oid = createHash('sha1')
      .update(`blob ${bytes.length}\0`)
      .update(bytes as Uint8Array)
      .digest('hex');
    return { path: f.path, size: f.bytes, oid };
  };

  it('selects README, the manifest and the files of the asked formats, support files included', async () => {
    const pq = (await selectLocalFiles(dir, manifest, ['parquet'])).map((f) => f.path);
    expect(pq).toEqual([
      'README.md',
      'data/test-00000-of-00001.parquet',
      'data/train-00000-of-00002.parquet',
      'data/train-00001-of-00002.parquet',
      'dataset-manifest.json',
    ]);
    const both = (await selectLocalFiles(dir, manifest, ['parquet', 'webdataset'])).map((f) => f.path);
    expect(both).toContain('webdataset/train-000000.tar');
    expect(both).toContain('webdataset/index.json');
    const readme = (await selectLocalFiles(dir, manifest, ['parquet'])).find((f) => f.path === 'README.md')!;
    expect(readme.sha256).toBe(
      createHash('sha256')
        .update(readFileSync(path.join(dir, 'README.md')) as Uint8Array)
        .digest('hex'),
    );
  });

  it('adds everything to an empty repo and finds nothing to do when the remote has the same content', async () => {
    const local = await selectLocalFiles(dir, manifest, ['parquet']);
    const first = await planPush(local, [], dir, manifest);
    expect(first.add.map((f) => f.path)).toEqual(local.map((f) => f.path));
    expect(first.uploadBytes).toBe(local.reduce((n, f) => n + f.bytes, 0));
    // Parquet in LFS (sha256), README/manifest inline (git blob sha1), plus a non-managed file.
    const remote = [
      ...local.map((f) => (f.path.endsWith('.parquet') ? asRemoteLfs(f) : asRemoteInline(f))),
      { path: '.gitattributes', size: 10, oid: 'a'.repeat(40) },
    ];
    const again = await planPush(local, remote, dir, manifest);
    expect(planIsEmpty(again)).toBe(true);
    expect(again.unchanged).toHaveLength(local.length);
    expect(again.uploadBytes).toBe(0);
  });

  it('changes files whose content differs and deletes stale files of managed folders only', async () => {
    const local = await selectLocalFiles(dir, manifest, ['parquet']);
    const remote: RemoteFile[] = local.map((f) => (f.path.endsWith('.parquet') ? asRemoteLfs(f) : asRemoteInline(f)));
    const shard = remote.find((r) => r.path === 'data/train-00001-of-00002.parquet')!;
    shard.lfsOid = '0'.repeat(64);
    remote.find((r) => r.path === 'README.md')!.oid = 'b'.repeat(40);
    remote.push(
      { path: 'data/train-00002-of-00003.parquet', size: 5, oid: 'c'.repeat(40), lfsOid: '1'.repeat(64) },
      { path: 'jsonl/train-00000.jsonl', size: 5, oid: 'd'.repeat(40) },
      { path: 'loaders/load.py', size: 5, oid: 'e'.repeat(40) },
      // Still this version's (listed with this sha256) though not pushed this time: kept.
      asRemoteLfs({
        ...local[0]!,
        path: 'webdataset/train-000000.tar',
        sha256: manifest.files.find((f) => f.path === 'webdataset/train-000000.tar')!.sha256,
        bytes: manifest.files.find((f) => f.path === 'webdataset/train-000000.tar')!.bytes,
      }),
      // Listed, but the remote copy is of another version: deleted.
      { path: 'webdataset/index.json', size: 3, oid: 'f'.repeat(40) },
    );
    const plan = await planPush(local, remote, dir, manifest);
    expect(plan.change.map((f) => f.path).sort()).toEqual(['README.md', 'data/train-00001-of-00002.parquet']);
    expect(plan.add).toEqual([]);
    expect(plan.delete.map((r) => r.path).sort()).toEqual([
      'data/train-00002-of-00003.parquet',
      'jsonl/train-00000.jsonl',
      'webdataset/index.json',
    ]);
  });

  it('commits fewer than 100 files at a time, the card and manifest in the last commit', async () => {
    const local = await selectLocalFiles(dir, manifest, ['parquet']);
    const many: LocalFile[] = Array.from({ length: 230 }, (_, i) => ({
      ...local[1]!,
      path: `data/x-${String(i).padStart(5, '0')}.parquet`,
    }));
    const readme = local.find((f) => f.path === 'README.md')!;
    const mf = local.find((f) => f.path === 'dataset-manifest.json')!;
    const chunks = await commitChunks({
      add: [readme, mf, ...many],
      change: [],
      delete: [{ path: 'data/old.parquet', size: 1, oid: 'a' }],
      unchanged: [],
      uploadBytes: 0,
    });
    expect(chunks.map((c) => c.length)).toEqual([MAX_FILES_PER_COMMIT, MAX_FILES_PER_COMMIT, 233 - 2 * MAX_FILES_PER_COMMIT]);
    expect(MAX_FILES_PER_COMMIT).toBeLessThan(100);
    const lastPaths = chunks.at(-1)!.map((o) => o.path);
    expect(lastPaths.slice(-2)).toEqual(['README.md', 'dataset-manifest.json']);
    expect(lastPaths).toContain('data/old.parquet');
  });

  it('rejects a manifest entry with a bad hash or a wrong size, naming the file and entry', async () => {
    const bad = mkdtempSync(path.join(os.tmpdir(), 'push-bad-'));
    try {
      const m = await makeDataset(bad, { parquet: { train: [2] } });
      writeManifest(bad, { ...m, files: [{ ...m.files[0]!, format: 'csv' as 'jsonl' }] });
      const e0 = await readDatasetManifest(bad).catch((e: unknown) => e);
      expect((e0 as Error).message).toMatch(/files\[0\]: expected "format" to be one of parquet, arrow, jsonl, webdataset/);
      writeManifest(bad, { ...m, files: [{ ...m.files[0]!, sha256: 'nothex' }] });
      const e1 = await readDatasetManifest(bad).catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(InputError);
      expect((e1 as Error).message).toMatch(/dataset-manifest\.json: files\[0\]: expected "sha256"/);
      writeManifest(bad, { ...m, files: [{ ...m.files[0]!, bytes: m.files[0]!.bytes + 1 }] });
      const m2 = await readDatasetManifest(bad);
      const e2 = await selectLocalFiles(bad, m2, ['parquet']).catch((e: unknown) => e);
      expect(e2).toBeInstanceOf(InputError);
      expect((e2 as Error).message).toMatch(
        /files entry data\/train-00000-of-00001\.parquet: the manifest says \d+ bytes but the file has \d+/,
      );
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
