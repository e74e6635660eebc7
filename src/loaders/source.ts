/**
 * Where `nusomi-hf loaders` reads the dataset-manifest.json from: a local dataset directory, or a
 * Hub dataset repo at a revision (resolved to its commit sha through the revision info API, so the
 * modules pin the exact commit; the tag is recorded when the revision is one, or points at it).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { HubApiError, datasetInfo, downloadFile, listFiles } from '@huggingface/hub';
import { InputError, NusomiError, RemoteError, UsageError } from '../errors.ts';
import { DATASET_MANIFEST_FILE, DATASET_MANIFEST_VERSION } from '../hf/dataset-manifest.ts';
import type { DatasetManifest } from '../hf/dataset-manifest.ts';
import { repoIdProblem } from '../hub/repo-id.ts';
import { resolveHubToken, scrubSecret } from '../hub/token.ts';
import type { HubToken } from '../hub/token.ts';
import type { LoaderInput } from './render.ts';
import { DEFAULT_HUB_URL, hubUrl as hubEndpoint } from '../hub/endpoint.ts';
import { failureReason } from '../limits.ts';

export { DEFAULT_HUB_URL };
const REPO_SPEC = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)(?:@(.+))?$/;

export interface ReadLoaderInputOptions {
  /** Hub endpoint; default $HF_ENDPOINT, else https://huggingface.co. */
  hubUrl?: string;
  /** Default resolveHubToken() (HF_TOKEN, else the token file). */
  token?: HubToken | null;
  /** Every Hub request goes through it. Default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** `spec` is a dataset directory, or `org/name[@revision]` of a Hub dataset repo. */
export async function readLoaderInput(spec: string, opts: ReadLoaderInputOptions = {}): Promise<LoaderInput> {
  if (existsSync(spec) && statSync(spec).isDirectory()) return readLocal(spec);
  const m = REPO_SPEC.exec(spec);
  if (!m) throw new UsageError(`${spec}: not a dataset directory, nor a Hub repo id like org/name[@revision]`);
  // Checked like the Hub checks repo ids before the token goes anywhere: `org/..` would reach another URL.
  const problem = repoIdProblem(m[1]!);
  if (problem) throw new UsageError(`${spec}: not a dataset directory, nor a valid Hub repo id: ${problem}`);
  return readHub(m[1]!, m[2] ?? 'main', opts);
}

function readLocal(dir: string): LoaderInput {
  const file = path.join(dir, DATASET_MANIFEST_FILE);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    throw new InputError(`no ${DATASET_MANIFEST_FILE} here: is this a dataset directory written by "nusomi-hf convert"?`, { file: dir });
  }
  return { manifest: parseManifest(bytes, file), manifestSha256: sha256(bytes), origin: { kind: 'local' } };
}

async function readHub(repo: string, revision: string, opts: ReadLoaderInputOptions): Promise<LoaderInput> {
  const hubUrl = hubEndpoint(opts.hubUrl);
  const token = opts.token === undefined ? resolveHubToken() : opts.token;
  const fetchFn = opts.fetch ?? fetch;
  const auth = { fetch: fetchFn, ...(token ? { accessToken: token.reveal() } : {}) };
  const where = `${repo}@${revision}`;
  try {
    const info = await datasetInfo({ name: repo, revision, hubUrl, additionalFields: ['sha'], ...auth });
    const sha = (info as { sha?: string }).sha;
    if (typeof sha !== 'string' || !/^[0-9a-f]{40}$/.test(sha))
      throw new NusomiError(`${hubUrl}: the revision info of ${where} has no commit sha`);
    const blob = await downloadFile({
      repo: { type: 'dataset', name: repo },
      path: DATASET_MANIFEST_FILE,
      revision: sha,
      hubUrl,
      xet: false,
      ...auth,
    });
    if (!blob) throw new InputError(`no ${DATASET_MANIFEST_FILE} in the repo: was it pushed with "nusomi-hf push"?`, { file: `${where}` });
    const bytes = Buffer.from(await blob.arrayBuffer());
    const tag = await tagOf(hubUrl, repo, revision, sha, token, fetchFn);
    const present = new Set<string>();
    for await (const e of listFiles({ repo: { type: 'dataset', name: repo }, recursive: true, revision: sha, hubUrl, ...auth })) {
      if (e.type === 'file') present.add(e.path);
    }
    const manifest = onlyPresentFormats(parseManifest(bytes, `${where}/${DATASET_MANIFEST_FILE}`), present);
    return { manifest, manifestSha256: sha256(bytes), origin: { kind: 'hub', repo, revision: sha, tag } };
  } catch (err) {
    if (err instanceof NusomiError) throw err;
    if (err instanceof HubApiError) {
      const hint = err.statusCode === 401 || err.statusCode === 403 ? ' (set HF_TOKEN to a token that can read it)' : '';
      throw new RemoteError(scrubSecret(`${hubUrl}: cannot read ${where}: HTTP ${err.statusCode} ${err.message}${hint}`, token?.reveal()));
    }
    throw new RemoteError(
      scrubSecret(`${hubUrl}: cannot read ${where}: ${err instanceof Error ? err.message : String(err)}`, token?.reveal()),
    );
  }
}

/**
 * The manifest narrowed to the formats whose every file is in the repo at that revision (a push
 * may publish fewer formats than were converted): loaders are offered only for data that is there.
 */
function onlyPresentFormats(m: DatasetManifest, present: ReadonlySet<string>): DatasetManifest {
  const missing = new Set(m.files.filter((f) => !present.has(f.path)).map((f) => f.format));
  if (missing.size === 0) return m;
  return { ...m, formats: (m.formats ?? []).filter((f) => !missing.has(f)), files: m.files.filter((f) => !missing.has(f.format)) };
}

/** The tag: the revision itself when it is a tag, else the first tag (by name) on the commit, else null. */
async function tagOf(
  hubUrl: string,
  repo: string,
  revision: string,
  sha: string,
  token: HubToken | null,
  fetchFn: typeof fetch,
): Promise<string | null> {
  const res = await fetchFn(`${hubUrl}/api/datasets/${repo}/refs`, { headers: token ? { Authorization: `Bearer ${token.reveal()}` } : {} });
  if (!res.ok) {
    await res.body?.cancel();
    return null;
  }
  const refs = (await res.json()) as { tags?: Array<{ name: string; targetCommit: string }> };
  const tags = (refs.tags ?? [])
    .filter((t) => t.targetCommit === sha)
    .map((t) => t.name)
    .sort();
  if (tags.includes(revision)) return revision;
  return tags[0] ?? null;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256')
    .update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    .digest('hex');
}

function parseManifest(bytes: Buffer, file: string): DatasetManifest {
  let m: DatasetManifest;
  try {
    m = JSON.parse(bytes.toString('utf8')) as DatasetManifest;
  } catch (err) {
    throw new InputError(`not valid JSON (${failureReason(err)})`, { file });
  }
  const need = (ok: boolean, what: string): void => {
    if (!ok) throw new InputError(`expected ${what}`, { file });
  };
  need(typeof m === 'object' && m !== null, 'a JSON object');
  need(
    m.manifest_version === DATASET_MANIFEST_VERSION,
    `manifest_version ${DATASET_MANIFEST_VERSION} (found ${JSON.stringify(m.manifest_version)})`,
  );
  need(Array.isArray(m.files), '"files" to be a list');
  need(typeof m.splits === 'object' && m.splits !== null, '"splits" to be an object');
  need(typeof m.features === 'object' && m.features !== null, '"features" to be an object');
  need(Array.isArray(m.labels?.action_type) && Array.isArray(m.labels?.outcome), '"labels" with action_type and outcome lists');
  m.files.forEach((f, i) => {
    need(
      typeof f.path === 'string' && typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256) && Number.isInteger(f.bytes),
      `files[${i}] with path, bytes and a sha256`,
    );
    need(
      !path.posix.isAbsolute(f.path) && !f.path.split('/').includes('..'),
      `files[${i}].path relative to the dataset root (found ${JSON.stringify(f.path)})`,
    );
  });
  return m;
}
