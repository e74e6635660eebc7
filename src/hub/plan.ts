/**
 * What a push has to do: the local files of the version (from dataset-manifest.json), the remote
 * files of the target branch (tree listing), and the diff between them — add, change, delete,
 * unchanged. Content identity is the sha256 (the LFS oid) for LFS files and the git blob sha1 for
 * files the Hub stored inline, so an unchanged dataset gives an empty plan.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError, type Where } from '../errors.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import type { DatasetFile, DatasetManifest, OutputFormat } from '../hf/dataset-manifest.ts';
import { byPath } from '../util/compare.ts';
import { ALL_FORMATS, formatModules, isOutputFormat } from '../formats/registry.ts';
import { configModules } from '../configs/registry.ts';
import { failureReason } from '../limits.ts';

export const README_FILE = 'README.md';

/** The folder each format and extra config lives in; files under these folders are owned by push (it deletes stale ones). */
export const MANAGED_FOLDERS: readonly string[] = [...formatModules(), ...configModules()].map((m) => m.folder);
export { ALL_FORMATS };

export interface LocalFile {
  /** Path in the repo (POSIX, relative). */
  path: string;
  /** Path on this machine. */
  absPath: string;
  bytes: number;
  sha256: string;
  /** Bytes push made (the published card and manifest) instead of a file on disk. */
  content?: Uint8Array;
}

/** A file push publishes from memory. */
export function generatedFile(repoPath: string, content: Uint8Array): LocalFile {
  return { path: repoPath, absPath: '', bytes: content.length, sha256: createHash('sha256').update(content).digest('hex'), content };
}

export interface RemoteFile {
  path: string;
  size: number;
  /** git blob sha1 (of the content, or of the LFS pointer for LFS files). */
  oid: string;
  /** sha256 of the content when the file is stored in LFS. */
  lfsOid?: string;
}

export interface PushPlan {
  add: LocalFile[];
  change: LocalFile[];
  /** Remote files under managed folders that the new version no longer has. */
  delete: RemoteFile[];
  unchanged: LocalFile[];
  /** Bytes of add + change. */
  uploadBytes: number;
}

export function planIsEmpty(plan: PushPlan): boolean {
  return plan.add.length === 0 && plan.change.length === 0 && plan.delete.length === 0;
}

/** Read and minimally check `dataset-manifest.json` of a dataset directory. */
export async function readDatasetManifest(dir: string): Promise<DatasetManifest> {
  const file = path.join(dir, DATASET_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new InputError(`no ${DATASET_MANIFEST_FILE} in ${dir}: push needs a dataset directory made by "nusomi-hf convert"`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InputError(`not valid JSON (${failureReason(err)})`, { file });
  }
  const m = json as Partial<DatasetManifest>;
  if (!m || typeof m !== 'object' || !Array.isArray(m.files)) {
    throw new InputError('expected an object with a "files" array', { file });
  }
  const seen = new Set<string>();
  m.files.forEach((f: Partial<DatasetFile>, i) => {
    const where = { file, row: `files[${i}]` };
    if (!f || typeof f.path !== 'string' || !isSafeRepoPath(f.path)) {
      throw new InputError(`expected "path" to be a relative POSIX path inside the dataset, got ${JSON.stringify(f?.path)}`, where);
    }
    if (typeof f.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(f.sha256)) {
      throw new InputError(`expected "sha256" to be 64 lowercase hex digits for ${f.path}`, where);
    }
    if (typeof f.bytes !== 'number' || !Number.isInteger(f.bytes) || f.bytes < 0) {
      throw new InputError(`expected "bytes" to be a non-negative integer for ${f.path}`, where);
    }
    if (!isOutputFormat(f.format)) {
      throw new InputError(
        `expected "format" to be one of ${ALL_FORMATS.join(', ')} for ${f.path}, got ${JSON.stringify(f.format)}`,
        where,
      );
    }
    if (f.path === README_FILE || f.path === DATASET_MANIFEST_FILE || seen.has(f.path)) {
      throw new InputError(`${f.path} is listed twice (README.md and the manifest are not listed in "files")`, where);
    }
    seen.add(f.path);
  });
  return m as DatasetManifest;
}

function isSafeRepoPath(p: string): boolean {
  return p.length > 0 && !p.startsWith('/') && !p.includes('\\') && !p.split('/').some((s) => s === '' || s === '.' || s === '..');
}

/** Does a manifest file belong to the pushed formats? (Support files carry their format too.) */
export function fileInFormats(file: DatasetFile, formats: readonly OutputFormat[]): boolean {
  return formats.includes(file.format);
}

/**
 * The local files of this version that a push with `formats` publishes: README.md and
 * dataset-manifest.json (hashed here) plus the manifest's files of those formats, support files
 * included (hashes from the manifest; existence and size checked). Sorted by path.
 */
export async function selectLocalFiles(dir: string, manifest: DatasetManifest, formats: readonly OutputFormat[]): Promise<LocalFile[]> {
  const out: LocalFile[] = [];
  const root = await realpath(dir);
  // A link out of the folder (file or parent dir) would publish whatever it points at, e.g. a key.
  const inside = async (absPath: string, where: Where): Promise<void> => {
    const real = await realpath(absPath);
    if (!real.startsWith(root + path.sep))
      throw new InputError(`${absPath} is a link to ${real}, outside the dataset directory: push uploads only files inside it`, where);
  };
  for (const name of [README_FILE, DATASET_MANIFEST_FILE]) {
    const absPath = path.join(dir, name);
    const st = await stat(absPath).catch(() => null);
    if (!st?.isFile())
      throw new InputError(`missing: a dataset directory has ${README_FILE} and ${DATASET_MANIFEST_FILE}`, { file: absPath });
    await inside(absPath, { file: absPath });
    out.push({ path: name, absPath, bytes: st.size, sha256: await hashFile(absPath, 'sha256') });
  }
  const manifestFile = path.join(dir, DATASET_MANIFEST_FILE);
  for (const m of manifest.files) {
    if (!fileInFormats(m, formats)) continue;
    const f: LocalFile = { path: m.path, absPath: path.join(dir, ...m.path.split('/')), bytes: m.bytes, sha256: m.sha256 };
    const st = await stat(f.absPath).catch(() => null);
    const where = { file: manifestFile, row: `files entry ${f.path}` };
    if (!st?.isFile()) throw new InputError(`the file is missing from the dataset directory (${f.absPath})`, where);
    await inside(f.absPath, where);
    if (st.size !== f.bytes) throw new InputError(`the manifest says ${f.bytes} bytes but the file has ${st.size}: re-run convert`, where);
    out.push(f);
  }
  return out.sort(byPath);
}

/** Streaming hash of a file: `sha256` of the bytes, or `gitblob` = git's sha1 of `blob <n>\0<bytes>`. */
export async function hashFile(absPath: string, kind: 'sha256' | 'gitblob'): Promise<string> {
  const h = createHash(kind === 'sha256' ? 'sha256' : 'sha1');
  if (kind === 'gitblob') h.update(`blob ${(await stat(absPath)).size}\0`);
  for await (const chunk of createReadStream(absPath)) h.update(chunk as Uint8Array);
  return h.digest('hex');
}

/** Same bytes? LFS files compare by sha256; inline files by git blob sha1 (hashed locally, only when sizes match). */
export async function sameContent(local: LocalFile, remote: RemoteFile): Promise<boolean> {
  if (remote.lfsOid) return remote.lfsOid === local.sha256 && remote.size === local.bytes;
  if (remote.size !== local.bytes) return false;
  if (local.content) return createHash('sha1').update(`blob ${local.content.length}\0`).update(local.content).digest('hex') === remote.oid;
  return (await hashFile(local.absPath, 'gitblob')) === remote.oid;
}

function asLocal(dir: string, m: DatasetFile): LocalFile {
  return { path: m.path, absPath: path.join(dir, ...m.path.split('/')), bytes: m.bytes, sha256: m.sha256 };
}

/**
 * Formats of this version that are not pushed this time but whose every file is already on the
 * remote with this version's content: they stay published (and the card keeps describing them).
 */
export async function keptFormats(
  remote: RemoteFile[],
  manifest: DatasetManifest,
  pushed: readonly OutputFormat[],
  dir: string,
): Promise<OutputFormat[]> {
  const remoteByPath = new Map(remote.map((r) => [r.path, r]));
  const kept: OutputFormat[] = [];
  for (const format of ALL_FORMATS) {
    if (pushed.includes(format)) continue;
    const files = manifest.files.filter((f) => f.format === format);
    if (files.length === 0) continue;
    let all = true;
    for (const f of files) {
      const r = remoteByPath.get(f.path);
      // A missing local copy (format not converted this time) cannot prove the remote is current.
      if (!r || !(await sameContent(asLocal(dir, f), r).catch(() => false))) {
        all = false;
        break;
      }
    }
    if (all) kept.push(format);
  }
  return kept;
}

/**
 * The manifest as published: only the files of the formats present in the repo, and as `formats`
 * those of the steps config among them (none for a dataset converted without steps).
 */
export function publishedManifest(manifest: DatasetManifest, formats: readonly OutputFormat[]): DatasetManifest {
  return {
    ...manifest,
    formats: publishedStepsFormats(manifest, formats),
    files: manifest.files.filter((f) => formats.includes(f.format)),
  };
}

/** The steps config's formats among those published (its card config and `formats`). */
export function publishedStepsFormats(manifest: DatasetManifest, formats: readonly OutputFormat[]): OutputFormat[] {
  return ALL_FORMATS.filter((f) => formats.includes(f) && manifest.formats.includes(f));
}

export function isManaged(repoPath: string): boolean {
  return MANAGED_FOLDERS.some((f) => repoPath.startsWith(f));
}

/**
 * Diff local against remote. Remote files under managed folders that are not pushed are deleted
 * unless the manifest still lists them with the same content (a format that was pushed before and
 * is left out this time stays, as long as it is still this version's). With `kept`, only files of
 * those formats stay, so the published card and manifest describe exactly what is there.
 */
export async function planPush(
  local: LocalFile[],
  remote: RemoteFile[],
  dir: string,
  manifest: DatasetManifest,
  kept?: readonly OutputFormat[],
): Promise<PushPlan> {
  const remoteByPath = new Map(remote.map((r) => [r.path, r]));
  const plan: PushPlan = { add: [], change: [], delete: [], unchanged: [], uploadBytes: 0 };
  const pushed = new Set<string>();
  for (const f of local) {
    pushed.add(f.path);
    const r = remoteByPath.get(f.path);
    if (!r) plan.add.push(f);
    else if (await sameContent(f, r)) plan.unchanged.push(f);
    else plan.change.push(f);
  }
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  for (const r of remote) {
    if (pushed.has(r.path) || !isManaged(r.path)) continue;
    const m = listed.get(r.path);
    if (m && (!kept || kept.includes(m.format))) {
      // A missing local copy (format not converted this time) cannot prove the remote is current.
      if (await sameContent(asLocal(dir, m), r).catch(() => false)) continue;
    }
    plan.delete.push(r);
  }
  plan.uploadBytes = [...plan.add, ...plan.change].reduce((n, f) => n + f.bytes, 0);
  return plan;
}
