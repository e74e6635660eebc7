/**
 * What every route handler of the local Hub server shares: the store, settings, counters, and the
 * rules for who sees which repo and how revisions resolve.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { refNameProblem, repoNamePartProblem } from './repo-id.ts';
import type { TokenRole, TokenTable } from './server-auth.ts';
import { decodeSegment, HttpError, repoNotFound, revisionNotFound } from './server-http.ts';
import type { CommitRecord, HubStore, RepoRecord, RepoType } from './store.ts';

/** The one user every listed token authenticates as. */
export const USER_NAME = 'local-user';

export interface HubSettings {
  /** Entries per page of tree listings (the Link header points at the next page). */
  treePageSize: number;
  /** LFS objects of at least 2 × this size are offered as multipart uploads with parts of this size. */
  multipartChunkBytes: number;
  /** Files of at least this size go through LFS even when no .gitattributes rule says so. */
  lfsThresholdBytes: number;
}

/** What the server counts: bytes received over LFS and over Xet (xorbs and shards), commits, new xorbs. */
export interface HubStats {
  lfsBytesReceived: number;
  xetBytesReceived: number;
  xorbsStored: number;
  commits: number;
}

export interface HubContext extends HubSettings {
  store: HubStore;
  /** Hex key that signs LFS upload URLs. */
  secret: string;
  /** The tokens that may read private repos (`read`) or also write (`write`). */
  tokens: TokenTable;
  stats: HubStats;
}

export interface HubRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Base URL as the client reached us (from Host), used in the URLs we hand out. */
  endpoint: string;
  /** The role of the bearer token; undefined without a token or for a token that is not listed. */
  role?: TokenRole;
  /** A bearer token was sent but is not listed: reads go on as anonymous, writes get 401. */
  unknownToken: boolean;
  head: boolean;
}

export const TYPE_BY_PLURAL: Record<string, RepoType> = { datasets: 'dataset', models: 'model', spaces: 'space' };

/** URL prefix of a repo's web routes (resolve, raw, .git): models have none. */
export function webPrefix(type: RepoType): string {
  return type === 'model' ? '' : `${type}s/`;
}

/**
 * Writes need a listed `write` token: none or an unlisted one is 401, a `read` token 403 (the
 * real Hub's answers; huggingface_hub maps both to clear errors).
 */
export function requireWrite(r: HubRequest): void {
  if (r.role === 'write') return;
  if (r.role === 'read') throw new HttpError(403, 'this token has the read role: writing needs a token with the write role');
  throw new HttpError(
    401,
    r.unknownToken
      ? 'Invalid credentials in Authorization header: this token is not one of the tokens this server accepts'
      : 'this request needs an access token: send "Authorization: Bearer hf_..." with a write token of this server',
  );
}

/**
 * The repo id of a route's namespace and name segments: percent-decoded first, then each part
 * checked like the Hub checks repo ids, so no encoded `..` or `/` ever reaches the storage paths.
 * Every route that names a repo goes through here.
 */
export function repoIdFromSegments(nsRaw: string, nameRaw: string): string {
  const parts = [decodeSegment(nsRaw), decodeSegment(nameRaw)];
  for (const part of parts) {
    const problem = repoNamePartProblem(part);
    if (problem) throw new HttpError(400, `invalid repo id segment ${JSON.stringify(part)}: ${problem}`);
  }
  return parts.join('/');
}

/** Load a repo the caller may see. Missing and private-without-a-listed-token look the same: 404 RepoNotFound. */
export async function openRepo(ctx: HubContext, r: HubRequest, type: RepoType, id: string, write = false): Promise<RepoRecord> {
  if (write) requireWrite(r);
  const repo = await ctx.store.getRepo(type, id);
  if (!repo || (repo.private && !r.role)) throw repoNotFound(id);
  return repo;
}

/** The commit sha a revision names: a branch, a tag, a full sha, `HEAD`, or `refs/heads|tags/...`. */
export async function resolveSha(ctx: HubContext, repo: RepoRecord, rev: string): Promise<string | undefined> {
  if (rev === 'HEAD') rev = repo.defaultBranch;
  // Own keys only: `refs/heads/__proto__` must not resolve to Object.prototype.
  const branch = (name: string): string | undefined => (Object.hasOwn(repo.branches, name) ? repo.branches[name] : undefined);
  const tag = (name: string): string | undefined => (Object.hasOwn(repo.tags, name) ? repo.tags[name]!.commit : undefined);
  if (rev.startsWith('refs/heads/')) return branch(rev.slice(11));
  if (rev.startsWith('refs/tags/')) return tag(rev.slice(10));
  const named = branch(rev) ?? tag(rev);
  if (named !== undefined) return named;
  if (/^[0-9a-f]{40}$/.test(rev) && (await ctx.store.getCommit(repo.type, repo.id, rev))) return rev;
  return undefined;
}

export async function resolveCommit(ctx: HubContext, repo: RepoRecord, rev: string): Promise<CommitRecord> {
  const sha = await resolveSha(ctx, repo, rev);
  const commit = sha && (await ctx.store.getCommit(repo.type, repo.id, sha));
  if (!commit) throw revisionNotFound(rev);
  return commit;
}

/**
 * Split the segments after `/resolve/`, `/tree/`, ... into a revision and a path. The revision is
 * normally one (percent-encoded) segment, but @huggingface/hub's listFiles sends it unencoded, so
 * a revision with `/` is also found by trying longer prefixes.
 */
export async function splitRevision(
  ctx: HubContext,
  repo: RepoRecord,
  segments: string[],
): Promise<{ commit: CommitRecord; rev: string; rest: string[] }> {
  if (segments.length === 0) throw revisionNotFound('');
  for (let k = 1; k <= segments.length; k++) {
    const rev = segments.slice(0, k).join('/');
    const sha = await resolveSha(ctx, repo, rev);
    if (sha) return { commit: await resolveCommit(ctx, repo, sha), rev, rest: segments.slice(k) };
  }
  throw revisionNotFound(segments[0]!);
}

/** Longest repo file path accepted (git's PATH_MAX on Linux). */
export const MAX_REPO_PATH_BYTES = 4096;

/** Repo-relative file path as the Hub accepts it: no empty, `.` or `..` segments, no `.git/`, no control characters. */
export function checkRepoPath(p: unknown): string {
  if (typeof p !== 'string' || p === '') throw new HttpError(400, 'a file path is missing');
  if (Buffer.byteLength(p) > MAX_REPO_PATH_BYTES) throw new HttpError(400, `a file path is longer than ${MAX_REPO_PATH_BYTES} bytes`);
  const segs = p.split('/');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what a repo path may not hold
  if (p.startsWith('/') || segs.some((s) => s === '' || s === '.' || s === '..') || segs[0] === '.git' || /[\x00-\x1f\x7f\\]/.test(p)) {
    throw new HttpError(400, `invalid path in repo: ${JSON.stringify(p)}`);
  }
  return p;
}

/** Branch and tag names must be valid git refs. */
export function checkRefName(name: unknown, what: string): string {
  const problem = typeof name === 'string' ? refNameProblem(name) : 'it is not a string';
  if (problem) throw new HttpError(400, `invalid ${what} name ${JSON.stringify(name)}: ${problem}`);
  return name as string;
}
