/**
 * Publish one dataset version to a Hub dataset repo with `@huggingface/hub`: plan against the
 * branch head, upload only what changed (commits of < 100 files, large files through LFS), delete
 * stale files of managed folders, then tag. The card and manifest pushed are made for the repo
 * and the formats present there (cardForRepo, publishedManifest).
 *
 * A branch never shows half a version: a change that fits one commit is one commit; a larger one
 * is committed to a staging branch made at the branch head, and the branch is moved to the
 * staging head only at the end (createBranch with overwrite, a Hub API call). A push killed
 * before the move leaves the branch at the old version; re-running starts the staging branch
 * afresh and is cheap, because the LFS batch answer omits the upload action for objects the Hub
 * already stores. A branch of the staging name whose head push did not make is never deleted:
 * push refuses instead. Of two pushes to one branch at once, one stops with a clear message.
 *
 * An aborted `signal` stops the push like a failure before the branch moves: nothing is tagged,
 * the branch stays where it was, a staging branch is left for the next run to start afresh.
 * Once the branch is being moved (the single commit, or the move to the staging head) the push
 * completes instead.
 */
import { CHUNK_HEADER_BYTES, readChunkHeader } from './xet-format.ts';
import { XetFileChanged, XetWriter, type XetConnection } from './xet-writer.ts';
import { openAsBlob } from 'node:fs';
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { commitIter, createBranch, createRepo, deleteBranch, HubApiError, listCommits, listFiles, whoAmI } from '@huggingface/hub';
import type { CommitOperation, CommitOutput, RepoDesignation } from '@huggingface/hub';
import { abortError, throwIfAborted } from '../abort.ts';
import { IntegrityError, NusomiError, RemoteError, UsageError } from '../errors.ts';
import { ProgressMeter } from '../progress.ts';
import type { PushProgressEvent } from '../progress.ts';
import type { OutputFormat } from '../hf/dataset-manifest.ts';
import { DATASET_MANIFEST_FILE } from '../hf/dataset-manifest.ts';
import { cardForRepo } from '../hf/card.ts';
import {
  ALL_FORMATS,
  generatedFile,
  hashFile,
  keptFormats,
  planIsEmpty,
  planPush,
  publishedManifest,
  publishedStepsFormats,
  readDatasetManifest,
  README_FILE,
  selectLocalFiles,
} from './plan.ts';
import type { LocalFile, PushPlan, RemoteFile } from './plan.ts';
import { refNameProblem, repoIdProblem } from './repo-id.ts';
import { resolveHubToken, scrubSecret } from './token.ts';
import type { HubToken } from './token.ts';
import { byPath } from '../util/compare.ts';
import { DEFAULT_HUB_URL, hubUrl } from './endpoint.ts';

export { DEFAULT_HUB_URL };
export type { PushProgressEvent };
/** The Hub advises fewer than 100 files per commit. */
export const MAX_FILES_PER_COMMIT = 99;
/**
 * Largest file push sends inline (base64 in the commit request, read whole into memory). The Hub
 * takes files this small inline and wants larger ones through LFS/Xet; a Hub that asks for a
 * larger file inline is refused rather than let it make push hold the file in memory.
 */
export const MAX_INLINE_FILE_BYTES = 10 * 1024 * 1024;

/** The branch a multi-commit push stages on before it moves `branch` to the result. */
export function stagingBranch(branch: string): string {
  return `nusomi-staging-${branch}`;
}

export interface PushOptions {
  /** The dataset directory (README.md, dataset-manifest.json, data files). */
  dir: string;
  /** `org/name`. */
  repo: string;
  tag?: string;
  /** Move `tag` when it already points at another commit. */
  forceTag?: boolean;
  /** @default "main" */
  branch?: string;
  /** Create the repo private (only when push creates it). */
  private?: boolean;
  /** @default ["parquet"] */
  formats?: OutputFormat[];
  /** Commit title. */
  message?: string;
  /** @default $HF_ENDPOINT, else https://huggingface.co */
  hubUrl?: string;
  dryRun?: boolean;
  /** Upload over Xet when the Hub offers it (only chunks it does not store yet travel); false keeps to LFS. @default true */
  xet?: boolean;
  /** @default resolveHubToken() (HF_TOKEN, else the token file) */
  token?: HubToken | null;
  /** Every Hub request goes through it. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Progress events (src/progress.ts): `hash`, then `upload` and `commit` once per commit. */
  onProgress?: (event: PushProgressEvent) => void;
  /**
   * Aborts the push: it rejects with an AbortError (name 'AbortError', the signal's reason as
   * `cause`), no tag made, the branch left where it was.
   */
  signal?: AbortSignal;
}

export interface PushResult {
  repo: string;
  branch: string;
  /** Head commit of the branch after the push (null on a dry run against a repo that does not exist). */
  commit: string | null;
  /** Commits made by this push, oldest first (empty when nothing changed). */
  commits: string[];
  /** The staging branch used when the change took more than one commit (deleted at the end). */
  staged_on: string | null;
  /** Formats present in the repo after the push (pushed now, or still there unchanged). */
  formats: OutputFormat[];
  tag: string | null;
  created_repo: boolean;
  uploaded_files: number;
  /** Bytes of the files uploaded (their full size, however they travelled). */
  uploaded_bytes: number;
  /** How the file bytes travelled: `xet` when the Hub offered it, else `lfs`; null when nothing was uploaded. */
  transfer: 'xet' | 'lfs' | null;
  /** Bytes actually sent for file contents: inline files, LFS bodies, Xet xorbs and shards (null on a dry run). */
  sent_bytes: number | null;
  /** Bytes of uploaded files that Xet found already stored, so were not sent (null on a dry run). */
  deduplicated_bytes: number | null;
  /** Bytes not uploaded at all: files unchanged on the branch, and objects the Hub already stored. */
  skipped_bytes: number;
  deleted_files: number;
  unchanged_files: number;
  dry_run: boolean;
  plan: PushPlan;
  hub_url: string;
}

/** A Hub request failed; the message is already scrubbed of the token. */
export class HubPushError extends RemoteError {
  constructor(what: string, hint?: string) {
    super(what, hint === undefined ? {} : { hint });
    this.name = 'HubPushError';
  }
}

interface RefInfo {
  branches: Array<{ name: string; targetCommit: string }>;
  tags: Array<{ name: string; targetCommit: string }>;
}

export async function pushDataset(opts: PushOptions): Promise<PushResult> {
  const token = opts.token === undefined ? resolveHubToken() : opts.token;
  try {
    throwIfAborted(opts.signal);
    return await pushInner(opts, token);
  } catch (err) {
    // Whatever failed once the signal fired (a request cut short) is the abort.
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw toScrubbedError(err, token, hubUrlOf(opts));
  }
}

function hubUrlOf(opts: PushOptions): string {
  return hubUrl(opts.hubUrl);
}

async function pushInner(opts: PushOptions, token: HubToken | null): Promise<PushResult> {
  const { signal } = opts;
  const hubUrl = hubUrlOf(opts);
  const commits = { done: 0, total: 0 };
  const progress = opts.onProgress
    ? new ProgressMeter<PushProgressEvent>('push', opts.onProgress, () => ({ commitsDone: commits.done, commitsTotal: commits.total }))
    : undefined;
  const branch = opts.branch ?? 'main';
  const formats = opts.formats ?? ['parquet'];
  for (const f of formats) {
    if (!ALL_FORMATS.includes(f)) throw new UsageError(`unknown format "${f}" (expected ${ALL_FORMATS.join(', ')})`);
  }
  const repoProblem = repoIdProblem(opts.repo);
  if (repoProblem) throw new UsageError(`--repo ${JSON.stringify(opts.repo)}: ${repoProblem}`);
  // Before any upload: a tag the Hub refuses would otherwise fail only after the whole push.
  for (const [flag, name] of [
    ['--branch', branch],
    ['--tag', opts.tag],
  ] as const) {
    const problem = name === undefined ? undefined : refNameProblem(name);
    if (problem) throw new UsageError(`${flag} ${JSON.stringify(name)} is not a valid branch or tag name: ${problem}`);
  }

  const manifest = await readDatasetManifest(opts.dir);
  for (const f of formats) {
    if (!manifest.files.some((m) => m.format === f)) {
      const have = [...new Set(manifest.files.map((m) => m.format))].join(', ') || 'none';
      throw new UsageError(
        `--formats ${f}: the dataset in ${opts.dir} has no ${f} files (it has: ${have}); convert with that format first`,
      );
    }
  }
  const local = await selectLocalFiles(opts.dir, manifest, formats);
  // Comparing with the branch: hashes of what the manifest does not list (the card, small files).
  progress?.start('hash', { filesTotal: local.length, bytesTotal: local.reduce((n, f) => n + f.bytes, 0) });

  if (!token && !opts.dryRun) {
    throw new HubPushError('no Hub token: set HF_TOKEN or log in with "hf auth login" (which writes $HF_HOME/token)');
  }
  const hub = new HubClient(hubUrl, opts.repo, token, opts.fetch ?? fetch, signal);
  if (token) await hub.checkToken();
  throwIfAborted(signal);

  // Where the branch stands now.
  const state = await hub.revision(branch);
  let head: string | null = state.kind === 'ok' ? state.sha : null;
  let baseSha = head;
  if (state.kind === 'no-revision') {
    const main = await hub.revision('HEAD');
    baseSha = main.kind === 'ok' ? main.sha : null;
  }
  const remote = baseSha ? await hub.listRemoteFiles(baseSha) : [];
  const kept = await keptFormats(remote, manifest, formats, opts.dir);
  const published = ALL_FORMATS.filter((f) => formats.includes(f) || kept.includes(f));
  // The card and manifest as published: for this repo, and for the formats that will be there.
  const card = cardForRepo(await readFile(path.join(opts.dir, README_FILE), 'utf8'), manifest, publishedStepsFormats(manifest, published), {
    repoId: opts.repo,
    branch,
  });
  const manifestBytes = JSON.stringify(publishedManifest(manifest, published), null, 2) + '\n';
  const generated = new Map([
    [README_FILE, generatedFile(README_FILE, new TextEncoder().encode(card))],
    [DATASET_MANIFEST_FILE, generatedFile(DATASET_MANIFEST_FILE, new TextEncoder().encode(manifestBytes))],
  ]);
  const toPublish = local.map((f) => generated.get(f.path) ?? f);
  const plan = await planPush(toPublish, remote, opts.dir, manifest, kept);
  if (progress) {
    progress.filesDone = local.length;
    progress.bytesDone = progress.bytesTotal ?? 0;
    progress.flush();
  }
  throwIfAborted(signal);

  const refs = state.kind === 'no-repo' ? { branches: [], tags: [] } : await hub.refs();
  // Refuse a tag move before uploading anything.
  let existingTag: { name: string; targetCommit: string } | undefined;
  if (opts.tag && state.kind !== 'no-repo') {
    existingTag = refs.tags.find((t) => t.name === opts.tag);
    const willCommit = !planIsEmpty(plan) || state.kind === 'no-revision';
    if (existingTag && !opts.forceTag && (willCommit || existingTag.targetCommit !== head)) {
      throw new HubPushError(
        `tag "${opts.tag}" already exists on commit ${existingTag.targetCommit} of ${opts.repo}` +
          `${willCommit ? ' and this push makes a new commit' : `, not on the head ${head}`}: pass --force-tag to move it, or choose another tag`,
      );
    }
  }

  const result: PushResult = {
    repo: opts.repo,
    branch,
    commit: head,
    commits: [],
    staged_on: null,
    formats: published,
    tag: opts.tag ?? null,
    created_repo: false,
    uploaded_files: 0,
    uploaded_bytes: 0,
    transfer: null,
    sent_bytes: opts.dryRun ? null : 0,
    deduplicated_bytes: opts.dryRun ? null : 0,
    skipped_bytes: plan.unchanged.reduce((n, f) => n + f.bytes, 0),
    deleted_files: 0,
    unchanged_files: plan.unchanged.length,
    dry_run: !!opts.dryRun,
    plan,
    hub_url: hubUrl,
  };
  if (opts.dryRun) return result;

  const chunks = await commitChunks(plan);
  commits.total = chunks.length;
  const staging = stagingBranch(branch);
  const leftover = state.kind === 'no-repo' ? 'none' : await hub.stagingLeftover(refs, staging, (head ?? baseSha)!);
  if (chunks.length > 1 && leftover === 'foreign') {
    throw new HubPushError(
      `branch "${staging}" of ${opts.repo} exists and holds commits push did not make; a push of more than one commit stages on it: ` +
        'rename or delete it, or push to another --branch (nothing was changed)',
    );
  }

  throwIfAborted(signal);
  if (state.kind === 'no-repo') {
    await hub.createRepo(!!opts.private);
    result.created_repo = true;
  }
  if (state.kind !== 'ok') {
    if (branch !== 'main') await hub.createBranch(branch);
    const now = await hub.revision(branch);
    if (now.kind !== 'ok') throw new HubPushError(`branch "${branch}" of ${opts.repo} is missing right after creating it`);
    head = now.sha;
  }

  const counter = new UploadCounter(new Map(toPublish.map((f) => [f.path, f])));
  const target = chunks.length > 1 ? staging : branch;
  if (chunks.length > 1) {
    // A staging branch of a killed push is started afresh.
    if (leftover !== 'none') await hub.deleteBranch(staging, true);
    await hub.stagingStep(staging, branch, () => hub.createBranch(staging, head!));
    result.staged_on = staging;
  }
  const base = head;
  const uploadTotals = { filesTotal: plan.add.length + plan.change.length, bytesTotal: plan.uploadBytes };
  for (const [i, chunk] of chunks.entries()) {
    throwIfAborted(signal);
    progress?.start('upload', {
      ...uploadTotals,
      filesDone: i === 0 ? 0 : progress.filesDone,
      bytesDone: i === 0 ? 0 : progress.bytesDone,
    });
    const title = commitTitle(opts.message, manifest.source_manifest?.export_id, i, chunks.length);
    const commit = (): Promise<CommitOutput> =>
      hub.commit(chunk, { title, branch: target, parentCommit: head ?? undefined, counter, progress, xet: opts.xet !== false });
    const out = chunks.length > 1 ? await hub.stagingStep(staging, branch, commit) : await commit();
    head = out.commit.oid;
    result.commits.push(head);
    commits.done = i + 1;
    progress?.start('commit', { ...uploadTotals, filesDone: progress.filesDone, bytesDone: progress.bytesDone }, 'upload');
  }
  if (chunks.length > 1) {
    // The last point an abort stops the push: from here the branch moves.
    throwIfAborted(signal);
    // Move the branch only if nobody committed to it meanwhile (their commit would be lost).
    const now = await hub.revision(branch);
    if (now.kind !== 'ok' || now.sha !== base) {
      throw new HubPushError(
        `branch "${branch}" of ${opts.repo} moved while this push staged on "${staging}"; it was left as it is: run push again`,
      );
    }
    await hub.createBranch(branch, head!, true);
    await hub.deleteBranch(staging, true);
  } else if (leftover === 'merged') {
    // Left by a push killed after it moved the branch: everything on it is on the branch.
    await hub.deleteBranch(staging, true);
  }
  result.commit = head;
  result.uploaded_files = counter.files;
  result.uploaded_bytes = counter.bytes;
  result.transfer = counter.xetFileBytes > 0 ? 'xet' : counter.bytes > 0 ? 'lfs' : null;
  result.sent_bytes = counter.sent;
  result.deduplicated_bytes = Math.max(0, counter.xetFileBytes - counter.xetNewRawBytes);
  result.skipped_bytes += counter.alreadyStored;
  result.deleted_files = plan.delete.length;

  if (opts.tag && head) {
    if (existingTag && existingTag.targetCommit !== head) await hub.deleteTag(opts.tag);
    if (!existingTag || existingTag.targetCommit !== head)
      await hub.createTag(opts.tag, head, title0(opts, manifest.source_manifest?.export_id));
  }
  return result;
}

function title0(opts: PushOptions, exportId: unknown): string {
  return commitTitle(opts.message, exportId, 0, 1);
}

/** Titles of staging commits end like this; a staging branch whose head has another title is someone else's. */
const PART_TITLE_RE = / \(part \d+\/\d+\)$/;

function commitTitle(message: string | undefined, exportId: unknown, i: number, n: number): string {
  const base = message ?? `Push dataset${typeof exportId === 'string' ? ` from export ${exportId}` : ''} with nusomi-hf`;
  return n > 1 ? `${base} (part ${i + 1}/${n})` : base;
}

/**
 * Operations in commit order, < 100 per commit: data files first, then deletions, and the card and
 * manifest last, so a branch never shows a card describing data that is not there yet.
 */
export async function commitChunks(plan: PushPlan): Promise<CommitOperation[][]> {
  const last = new Set([README_FILE, DATASET_MANIFEST_FILE]);
  const uploads = [...plan.add, ...plan.change].sort(byPath);
  // openAsBlob keeps no descriptor open and reads the file only when the upload streams it.
  const toOp = async (f: LocalFile): Promise<CommitOperation> => ({
    operation: 'addOrUpdate',
    path: f.path,
    content: f.content ? new Blob([f.content]) : await openAsBlob(f.absPath),
  });
  const ops: CommitOperation[] = [
    ...(await Promise.all(uploads.filter((f) => !last.has(f.path)).map(toOp))),
    ...plan.delete.map((r): CommitOperation => ({ operation: 'delete', path: r.path })),
    ...(await Promise.all(uploads.filter((f) => last.has(f.path)).map(toOp))),
  ];
  const chunks: CommitOperation[][] = [];
  for (let i = 0; i < ops.length; i += MAX_FILES_PER_COMMIT) chunks.push(ops.slice(i, i + MAX_FILES_PER_COMMIT));
  return chunks;
}

/** Counts what actually travelled: inline files of a commit and LFS objects the Hub asked for. */
class UploadCounter {
  files = 0;
  bytes = 0;
  /** Bytes on the wire for file contents. */
  sent = 0;
  /** Size of the files the Hub took over Xet, and the raw size of the new chunks sent for them. */
  xetFileBytes = 0;
  xetNewRawBytes = 0;
  /** Size of the LFS objects the Hub already had. */
  alreadyStored = 0;
  constructor(readonly local: Map<string, LocalFile>) {}
}

type RevisionState = { kind: 'ok'; sha: string } | { kind: 'no-repo' } | { kind: 'no-revision' };

/** The Hub calls push makes; raw requests where the JS client has no function (tags, refs). */
class HubClient {
  readonly #token: HubToken | null;
  readonly #fetch: typeof fetch;
  constructor(
    readonly hubUrl: string,
    readonly repoId: string,
    token: HubToken | null,
    fetchFn: typeof fetch,
    readonly signal?: AbortSignal,
  ) {
    this.#token = token;
    this.#fetch = fetchFn;
  }

  get #repo(): RepoDesignation {
    return { type: 'dataset', name: this.repoId };
  }

  get #auth(): { accessToken?: string } {
    return this.#token ? { accessToken: this.#token.reveal() } : {};
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.#token ? { Authorization: `Bearer ${this.#token.reveal()}` } : {}), ...extra };
  }

  async checkToken(): Promise<void> {
    const t = this.#token!;
    if (!t.reveal().startsWith('hf_')) {
      throw new HubPushError(`the token from ${t.describeSource()} is not a Hugging Face token (they start with "hf_")`);
    }
    let role: string | undefined;
    try {
      role = (await whoAmI({ hubUrl: this.hubUrl, fetch: this.#fetch, accessToken: t.reveal() })).auth?.accessToken?.role;
    } catch (err) {
      if (err instanceof HubApiError && (err.statusCode === 401 || err.statusCode === 403)) {
        throw new HubPushError(
          `the Hub at ${this.hubUrl} rejected the token from ${t.describeSource()} (HTTP ${err.statusCode})`,
          'set HF_TOKEN to a valid token with write access, or log in again with "hf auth login"',
        );
      }
      // A Hub without whoami still gets to judge the token on the calls that need it.
      if (!(err instanceof HubApiError && err.statusCode === 404)) throw err;
    }
    if (role === 'read') {
      throw new HubPushError(
        `the token from ${t.describeSource()} has the read role on ${this.hubUrl}: push needs a token with write access`,
      );
    }
  }

  async revision(rev: string): Promise<RevisionState> {
    const url = `${this.hubUrl}/api/datasets/${this.repoId}/revision/${encodeURIComponent(rev)}`;
    const res = await this.#fetch(url, { headers: this.#headers({ Accept: 'application/json' }), signal: this.signal });
    if (res.ok) {
      const json = (await res.json()) as { sha?: string };
      if (typeof json.sha !== 'string') throw new HubPushError(`${url} answered without a commit sha`);
      return { kind: 'ok', sha: json.sha };
    }
    const code = res.headers.get('X-Error-Code');
    await res.body?.cancel();
    if (code === 'RevisionNotFound') return { kind: 'no-revision' };
    if (res.status === 404 || res.status === 401) {
      if (code === 'RepoNotFound' || res.status === 401) return { kind: 'no-repo' };
      // No error code: tell a missing repo from a missing revision through the repo itself.
      if (rev === 'HEAD') return { kind: 'no-repo' };
      const repoRes = await this.#fetch(`${this.hubUrl}/api/datasets/${this.repoId}`, { headers: this.#headers() });
      await repoRes.body?.cancel();
      return repoRes.ok ? { kind: 'no-revision' } : { kind: 'no-repo' };
    }
    throw new HubPushError(`GET ${url} failed with HTTP ${res.status}`);
  }

  async listRemoteFiles(revision: string): Promise<RemoteFile[]> {
    const out: RemoteFile[] = [];
    for await (const e of listFiles({
      repo: this.#repo,
      recursive: true,
      revision: encodeURIComponent(revision),
      hubUrl: this.hubUrl,
      fetch: this.#fetch,
      ...this.#auth,
    })) {
      if (e.type !== 'file') continue;
      out.push({ path: e.path, size: e.size, oid: e.oid ?? '', ...(e.lfs ? { lfsOid: e.lfs.oid } : {}) });
    }
    return out;
  }

  /**
   * What the staging branch holds before this push: `none` (absent), `merged` (its head is the
   * branch head: deleting it loses nothing), `ours` (its head is a staging commit of a killed or
   * running push), `foreign` (someone's own branch of that name: never deleted).
   */
  async stagingLeftover(refs: RefInfo, staging: string, branchHead: string): Promise<'none' | 'merged' | 'ours' | 'foreign'> {
    const found = refs.branches.find((b) => b.name === staging);
    if (!found) return 'none';
    if (found.targetCommit === branchHead) return 'merged';
    const it = listCommits({
      repo: this.#repo,
      revision: encodeURIComponent(staging),
      batchSize: 1,
      hubUrl: this.hubUrl,
      fetch: this.#fetch,
      ...this.#auth,
    });
    const top = (await it.next()).value;
    await it.return(undefined);
    return top && PART_TITLE_RE.test(top.title) ? 'ours' : 'foreign';
  }

  /**
   * A step on the staging branch. Another push of the same branch restarts that branch (it takes
   * a leftover for a killed push's): this push's next step then finds it gone (404), already made
   * (409) or moved (412), and stops with that said, leaving the branch as it is.
   */
  async stagingStep<T>(staging: string, branch: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (err instanceof HubApiError && [404, 409, 412].includes(err.statusCode)) {
        throw new HubPushError(
          `the staging branch "${staging}" of ${this.repoId} changed under this push (HTTP ${err.statusCode}): another push to "${branch}" ` +
            `is running or started meanwhile; "${branch}" was left as it is: run push again once the other one has finished`,
        );
      }
      throw err;
    }
  }

  async refs(): Promise<RefInfo> {
    const url = `${this.hubUrl}/api/datasets/${this.repoId}/refs`;
    const res = await this.#fetch(url, { headers: this.#headers({ Accept: 'application/json' }), signal: this.signal });
    if (!res.ok) {
      await res.body?.cancel();
      throw new HubPushError(`GET ${url} failed with HTTP ${res.status}`);
    }
    return (await res.json()) as RefInfo;
  }

  async createRepo(isPrivate: boolean): Promise<void> {
    await createRepo({
      repo: this.#repo,
      hubUrl: this.hubUrl,
      fetch: this.#fetch,
      accessToken: this.#token!.reveal(),
      ...(isPrivate ? { visibility: 'private' as const } : {}),
    });
  }

  /** Create `branch` at `revision` (default: the default branch); `overwrite` moves an existing one. */
  async createBranch(branch: string, revision?: string, overwrite = false): Promise<void> {
    await createBranch({
      repo: this.#repo,
      branch,
      hubUrl: this.hubUrl,
      fetch: this.#fetch,
      accessToken: this.#token!.reveal(),
      ...(revision ? { revision } : {}),
      ...(overwrite ? { overwrite } : {}),
    });
  }

  /** Delete `branch`; with `gone`, a branch another push deleted first is no error. */
  async deleteBranch(branch: string, gone = false): Promise<void> {
    try {
      await deleteBranch({ repo: this.#repo, branch, hubUrl: this.hubUrl, fetch: this.#fetch, accessToken: this.#token!.reveal() });
    } catch (err) {
      if (!(gone && err instanceof HubApiError && err.statusCode === 404)) throw err;
    }
  }

  async createTag(tag: string, sha: string, message: string): Promise<void> {
    const url = `${this.hubUrl}/api/datasets/${this.repoId}/tag/${encodeURIComponent(sha)}`;
    const res = await this.#fetch(url, {
      method: 'POST',
      headers: this.#headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({ tag, message }),
    });
    const body = await res.text();
    if (res.status === 409) throw new HubPushError(`tag "${tag}" already exists on ${this.repoId}: pass --force-tag to move it`);
    if (!res.ok) throw new HubPushError(`creating tag "${tag}" on ${sha} failed with HTTP ${res.status}: ${body.slice(0, 300)}`);
  }

  async deleteTag(tag: string): Promise<void> {
    const url = `${this.hubUrl}/api/datasets/${this.repoId}/tag/${encodeURIComponent(tag)}`;
    const res = await this.#fetch(url, { method: 'DELETE', headers: this.#headers() });
    const body = await res.text();
    if (!res.ok) throw new HubPushError(`deleting tag "${tag}" to move it failed with HTTP ${res.status}: ${body.slice(0, 300)}`);
  }

  /**
   * Upload this commit's LFS files over Xet with push's own writer, when the Hub hands out a Xet
   * write token. Returns the paths uploaded (the rest of the files go inline in the commit), or
   * undefined when the commit must go through commitIter: the Hub has no Xet (404), or it wants a
   * file the writer does not take (an empty one) through LFS.
   */
  async #uploadXet(
    operations: CommitOperation[],
    o: { branch: string; counter: UploadCounter },
    advance: (path: string, fraction: number) => void,
  ): Promise<Set<string> | undefined> {
    const files = operations.flatMap((op) => {
      const f = op.operation === 'addOrUpdate' ? o.counter.local.get(op.path) : undefined;
      return f ? [f] : [];
    });
    const done = new Set<string>();
    if (files.length === 0) return done;
    const tokenUrl = `${this.hubUrl}/api/datasets/${this.repoId}/xet-write-token/${encodeURIComponent(o.branch)}`;
    let conn: { casUrl: string; accessToken: string; exp: number } | undefined;
    const connect = async (): Promise<XetConnection> => {
      // Refresh a minute before expiry, like the reference client.
      if (!conn || conn.exp * 1000 < Date.now() + 60_000) {
        const res = await this.#fetch(tokenUrl, { headers: this.#headers({ Accept: 'application/json' }), signal: this.signal });
        if (!res.ok) throw new HubPushError(`getting a Xet write token failed with HTTP ${res.status}`);
        conn = (await res.json()) as typeof conn;
      }
      return conn!;
    };
    const probe = await this.#fetch(tokenUrl, { headers: this.#headers({ Accept: 'application/json' }), signal: this.signal });
    if (probe.status === 404) {
      await probe.body?.cancel();
      return undefined;
    }
    if (!probe.ok) throw new HubPushError(`getting a Xet write token failed with HTTP ${probe.status}`);
    conn = (await probe.json()) as typeof conn;
    // The Hub decides which files are LFS (Xet) and which go inline in the commit.
    const lfs = await this.#lfsPaths(files, o.branch);
    if (files.some((f) => lfs.has(f.path) && f.bytes === 0)) return undefined;
    // The CAS requests go through the injected fetch and stop when the push is aborted.
    const writer = new XetWriter(connect, (input, init) => this.#fetch(input, { ...init, signal: this.signal }));
    for (const f of files) {
      if (!lfs.has(f.path)) continue;
      throwIfAborted(this.signal);
      try {
        await writer.addFile(f);
      } catch (err) {
        if (err instanceof XetFileChanged) throw changedError(f);
        throw err;
      }
      done.add(f.path);
      advance(f.path, 1);
    }
    if (done.size) await writer.finish();
    o.counter.sent += writer.stats.sent;
    o.counter.xetNewRawBytes += writer.stats.newRawBytes;
    return done;
  }

  /**
   * The commit request itself (NDJSON: a header line, then one line per operation), for a commit
   * whose LFS files the writer uploaded: they are named by the sha256 the manifest lists and the
   * writer checked while reading, so nothing is hashed again. Inline files travel base64-encoded.
   */
  async #commitDirect(
    operations: CommitOperation[],
    viaXet: Set<string>,
    o: { title: string; branch: string; parentCommit?: string; counter: UploadCounter },
  ): Promise<CommitOutput> {
    const lines: unknown[] = [{ key: 'header', value: { summary: o.title, ...(o.parentCommit && { parentCommit: o.parentCommit }) } }];
    for (const op of operations) {
      if (op.operation === 'delete') {
        lines.push({ key: 'deletedFile', value: { path: op.path } });
        continue;
      }
      if (op.operation !== 'addOrUpdate') throw new HubPushError(`push makes no "${op.operation}" commit operations`);
      const f = o.counter.local.get(op.path)!;
      if (viaXet.has(f.path)) {
        lines.push({ key: 'lfsFile', value: { path: f.path, algo: 'sha256', oid: f.sha256, size: f.bytes } });
        continue;
      }
      if (!f.content && f.bytes > MAX_INLINE_FILE_BYTES) {
        throw new HubPushError(
          `the Hub asked for ${f.path} (${f.bytes} bytes) inline in the commit; push sends at most ${MAX_INLINE_FILE_BYTES} bytes inline (MAX_INLINE_FILE_BYTES)`,
        );
      }
      const bytes = f.content ?? (await readFile(f.absPath));
      if (!f.content && createHash('sha256').update(bytes).digest('hex') !== f.sha256) throw changedError(f);
      lines.push({ key: 'file', value: { path: f.path, content: Buffer.from(bytes).toString('base64'), encoding: 'base64' } });
    }
    const url = `${this.hubUrl}/api/datasets/${this.repoId}/commit/${encodeURIComponent(o.branch)}`;
    const res = await this.#fetch(url, {
      method: 'POST',
      headers: this.#headers({ 'Content-Type': 'application/x-ndjson' }),
      body: lines.map((l) => JSON.stringify(l)).join('\n'),
      signal: this.signal,
    });
    const text = await res.text();
    let json: { commitOid?: unknown; commitUrl?: unknown; hookOutput?: unknown; error?: unknown; message?: unknown } = {};
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      // not JSON: the status says what happened
    }
    if (!res.ok) {
      // A HubApiError like the JS client's, so a refused commit reads the same on either path.
      const why = typeof json.error === 'string' ? json.error : typeof json.message === 'string' ? json.message : text.slice(0, 300);
      throw new HubApiError(url, res.status, res.headers.get('X-Request-Id') ?? undefined, `${why}. URL: ${url}`);
    }
    if (typeof json.commitOid !== 'string') throw new HubPushError('the Hub answered the commit without a commit id');
    for (const p of viaXet) o.counter.xetFileBytes += o.counter.local.get(p)!.bytes;
    for (const op of operations) {
      if (op.operation !== 'addOrUpdate') continue;
      const n = o.counter.local.get(op.path)!.bytes;
      o.counter.files += 1;
      o.counter.bytes += n;
      if (!viaXet.has(op.path)) o.counter.sent += n;
    }
    return {
      commit: { oid: json.commitOid, url: typeof json.commitUrl === 'string' ? json.commitUrl : '' },
      hookOutput: typeof json.hookOutput === 'string' ? json.hookOutput : '',
    };
  }

  /** Paths the Hub's preupload answers `lfs` for (the rest it takes inline). */
  async #lfsPaths(files: LocalFile[], branch: string): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < files.length; i += 100) {
      const batch = await Promise.all(
        files.slice(i, i + 100).map(async (f) => {
          if (f.content) return { path: f.path, size: f.bytes, sample: Buffer.from(f.content.subarray(0, 512)).toString('base64') };
          const fh = await open(f.absPath, 'r');
          try {
            const sample = Buffer.alloc(Math.min(512, f.bytes));
            await fh.read(sample, 0, sample.length, 0);
            return { path: f.path, size: f.bytes, sample: sample.toString('base64') };
          } finally {
            await fh.close();
          }
        }),
      );
      const res = await this.#fetch(`${this.hubUrl}/api/datasets/${this.repoId}/preupload/${encodeURIComponent(branch)}`, {
        method: 'POST',
        signal: this.signal,
        headers: this.#headers({ 'Content-Type': 'application/json' }),
        body: JSON.stringify({ files: batch }),
      });
      if (!res.ok) throw new HubPushError(`preupload failed with HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
      for (const f of ((await res.json()) as { files: Array<{ path: string; uploadMode: string }> }).files)
        if (f.uploadMode === 'lfs') out.add(f.path);
    }
    return out;
  }

  /**
   * One commit through commitIter. A fetch wrapper reads the preupload answer (inline files) and
   * the LFS batch answer (objects the Hub asks for) to count what really travels.
   */
  async commit(
    operations: CommitOperation[],
    o: {
      title: string;
      branch: string;
      parentCommit?: string;
      counter: UploadCounter;
      progress?: ProgressMeter<PushProgressEvent>;
      xet: boolean;
    },
  ): Promise<CommitOutput> {
    const inline = new Set<string>();
    const lfsUploads: number[] = [];
    const xetUploads: number[] = [];
    // The client hashes what it uploads: every LFS oid it asks for must be the manifest's sha256 of
    // a file of this commit, or the published manifest would not describe the published bytes.
    const expected = new Set<string>();
    for (const op of operations) {
      const sha = op.operation === 'addOrUpdate' ? o.counter.local.get(op.path)?.sha256 : undefined;
      if (sha) expected.add(sha);
    }
    // Bytes of each file counted so far: LFS uploads report fractions, the rest counts when done.
    const counted = new Map<string, number>();
    const advance = (p: string, fraction: number): void => {
      const progress = o.progress;
      if (!progress) return;
      const size = o.counter.local.get(p)?.bytes ?? 0;
      const before = counted.get(p) ?? 0;
      if (before === size && counted.has(p)) return;
      const now = Math.min(size, Math.floor(fraction * size));
      counted.set(p, now);
      if (fraction >= 1) progress.filesDone += 1;
      progress.advance(0, now - before);
    };
    // Over Xet, push uploads the files itself (XetWriter): only chunks the Hub lacks travel. The
    // commit then names them by their manifest sha256.
    const viaXet = o.xet ? await this.#uploadXet(operations, o, advance) : undefined;
    if (viaXet) {
      const out = await this.#commitDirect(operations, viaXet, o);
      for (const op of operations) if (op.operation === 'addOrUpdate') advance(op.path, 1);
      o.progress?.flush();
      return out;
    }
    const countingFetch: typeof fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      if (url.endsWith('/info/lfs/objects/batch') && typeof init?.body === 'string') {
        const asked = (JSON.parse(init.body) as { objects?: Array<{ oid?: string }> }).objects ?? [];
        const stray = asked.find((obj) => !expected.has(obj.oid ?? ''));
        if (stray) throw await changedSinceConvert(operations, o.counter.local);
      }
      if (init?.method === 'POST' && url.includes('/commit/')) {
        // Files sent inline (small, below the LFS threshold) are not hashed by the client: hash them here.
        for (const p of inline) {
          const f = o.counter.local.get(p);
          if (f && !f.content && (await hashFile(f.absPath, 'sha256')) !== f.sha256) throw changedError(f);
        }
      }
      const res = await this.#fetch(input, init);
      const body = init?.body instanceof Uint8Array ? init.body : undefined;
      if (res.ok && init?.method === 'POST' && body && /\/v1\/xorbs\/[^/]+\/[0-9a-f]{64}$/.test(url)) {
        o.counter.sent += body.byteLength;
        o.counter.xetNewRawBytes += xorbRawBytes(body);
      } else if (res.ok && init?.method === 'POST' && body && /\/v[12]\/shards$/.test(url)) {
        o.counter.sent += body.byteLength;
      } else if (res.ok && init?.method === 'POST' && url.includes('/preupload/')) {
        const json = (await res.clone().json()) as { files: Array<{ path: string; uploadMode: string }> };
        for (const f of json.files) if (f.uploadMode !== 'lfs') inline.add(f.path);
      } else if (res.ok && url.endsWith('/info/lfs/objects/batch')) {
        const json = (await res.clone().json()) as {
          transfer?: string;
          objects: Array<{ oid: string; size: number; actions?: { upload?: unknown } }>;
        };
        for (const obj of json.objects) {
          if (!obj.actions?.upload) o.counter.alreadyStored += obj.size;
          else if (json.transfer === 'xet') xetUploads.push(obj.size);
          else lfsUploads.push(obj.size);
        }
      }
      return res;
    };
    const it = commitIter({
      repo: this.#repo,
      operations,
      title: o.title,
      branch: o.branch,
      parentCommit: o.parentCommit,
      hubUrl: this.hubUrl,
      fetch: countingFetch,
      ...(this.signal && { abortSignal: this.signal }),
      useXet: o.xet,
      ...this.#auth,
    });
    let step = await it.next();
    while (!step.done) {
      const ev = step.value;
      if (ev.event === 'fileProgress' && ev.state === 'uploading') advance(ev.path, ev.progress);
      step = await it.next();
    }
    const out = step.value;
    if (!out) throw new HubPushError('the Hub answered the commit without a commit id');
    for (const op of operations) if (op.operation === 'addOrUpdate') advance(op.path, 1);
    o.progress?.flush();
    for (const p of inline) {
      const n = o.counter.local.get(p)?.bytes ?? 0;
      o.counter.files += 1;
      o.counter.bytes += n;
      o.counter.sent += n;
    }
    const lfs = lfsUploads.reduce((a, b) => a + b, 0);
    const xet = xetUploads.reduce((a, b) => a + b, 0);
    o.counter.files += lfsUploads.length + xetUploads.length;
    o.counter.bytes += lfs + xet;
    o.counter.sent += lfs;
    o.counter.xetFileBytes += xet;
    return out;
  }
}

/** Raw (uncompressed) bytes of the chunks of a serialized xorb: the sum of its chunk headers' sizes. */
function xorbRawBytes(xorb: Uint8Array): number {
  let raw = 0;
  for (let at = 0; at + CHUNK_HEADER_BYTES <= xorb.length && xorb[at] === 0; ) {
    const h = readChunkHeader(xorb, at, 0);
    raw += h.rawSize;
    at += CHUNK_HEADER_BYTES + h.storedSize;
  }
  return raw;
}

function changedError(f: LocalFile): IntegrityError {
  return new IntegrityError(
    `${f.absPath} changed since convert: its sha256 is not the one ${DATASET_MANIFEST_FILE} lists; re-run convert (the branch was left as it is)`,
  );
}

/** The file of a commit whose bytes no longer hash to its manifest sha256 (hashed only on this error path). */
async function changedSinceConvert(operations: CommitOperation[], local: Map<string, LocalFile>): Promise<IntegrityError> {
  for (const op of operations) {
    const f = op.operation === 'addOrUpdate' ? local.get(op.path) : undefined;
    if (f && !f.content && (await hashFile(f.absPath, 'sha256')) !== f.sha256) return changedError(f);
  }
  return new IntegrityError(
    `a file changed while push read it: its sha256 is not the one ${DATASET_MANIFEST_FILE} lists; re-run push (the branch was left as it is)`,
  );
}

/** Turn any failure into a one-line NusomiError whose message cannot contain the token. */
function toScrubbedError(err: unknown, token: HubToken | null, hubUrl: string): Error {
  const secret = token?.reveal();
  if (err instanceof NusomiError) {
    const clean = scrubSecret(err.message, secret);
    return clean === err.message ? err : new NusomiError(clean, {}, err.exitCode);
  }
  let msg: string;
  if (err instanceof HubApiError) {
    msg =
      err.statusCode === 401 || err.statusCode === 403
        ? `the Hub refused the request (HTTP ${err.statusCode}): ${err.message}; check that the token has write access to the repo`
        : `Hub request failed (HTTP ${err.statusCode}): ${err.message}`;
  } else if (err instanceof TypeError && /fetch failed/.test(err.message)) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    msg = `cannot reach the Hub at ${hubUrl}: ${cause?.code ?? cause?.message ?? err.message}`;
  } else {
    msg = `push failed: ${err instanceof Error ? err.message : String(err)}`;
  }
  return new HubPushError(scrubSecret(msg, secret));
}

/** How to load what was pushed, for the CLI's closing lines. */
export function loadHint(result: Pick<PushResult, 'repo' | 'tag' | 'branch' | 'hub_url'>, python = 'python'): string {
  const rev = result.tag ?? (result.branch !== 'main' ? result.branch : null);
  // Git refs may hold quotes and "$(": a Python string literal, and the shell's single quotes escaped.
  const call = `load_dataset("${result.repo}"${rev ? `, revision=${JSON.stringify(rev)}` : ''})`;
  const shell = (s: string): string => `'${s.replaceAll("'", `'\\''`)}'`;
  return result.hub_url === DEFAULT_HUB_URL
    ? call
    : `HF_ENDPOINT=${shell(result.hub_url)} ${python} -c ${shell(`from datasets import load_dataset; print(${call})`)}`;
}
