/**
 * What every route handler of the local Hub server shares: the store, settings, counters, and the
 * rules for who sees which repo and how revisions resolve.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, repoNotFound, revisionNotFound } from './server-http.ts';
import type { CommitRecord, HubStore, RepoRecord, RepoType } from './store.ts';

/** The one user every valid token authenticates as. */
export const USER_NAME = 'local-user';

export interface HubSettings {
  /** Entries per page of tree listings (the Link header points at the next page). */
  treePageSize: number;
  /** LFS objects of at least 2 × this size are offered as multipart uploads with parts of this size. */
  multipartChunkBytes: number;
  /** Files of at least this size go through LFS even when no .gitattributes rule says so. */
  lfsThresholdBytes: number;
}

export interface HubContext extends HubSettings {
  store: HubStore;
  /** Hex key that signs LFS upload URLs. */
  secret: string;
  stats: { lfsBytesReceived: number; commits: number };
}

export interface HubRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** Base URL as the client reached us (from Host), used in the URLs we hand out. */
  endpoint: string;
  /** The bearer token, when one was sent (always `hf_`-prefixed: others are refused earlier). */
  token?: string;
  head: boolean;
}

export const TYPE_BY_PLURAL: Record<string, RepoType> = { datasets: 'dataset', models: 'model', spaces: 'space' };

/** URL prefix of a repo's web routes (resolve, raw, .git): models have none. */
export function webPrefix(type: RepoType): string {
  return type === 'model' ? '' : `${type}s/`;
}

export function requireToken(r: HubRequest): string {
  if (!r.token) throw new HttpError(401, 'this request needs an access token: send "Authorization: Bearer hf_..."');
  return r.token;
}

/** Load a repo the caller may see. Missing and private-without-token look the same: 404 RepoNotFound. */
export async function openRepo(ctx: HubContext, r: HubRequest, type: RepoType, id: string, write = false): Promise<RepoRecord> {
  if (write) requireToken(r);
  const repo = await ctx.store.getRepo(type, id);
  if (!repo || (repo.private && !r.token)) throw repoNotFound(id);
  return repo;
}

/** The commit sha a revision names: a branch, a tag, a full sha, `HEAD`, or `refs/heads|tags/...`. */
export async function resolveSha(ctx: HubContext, repo: RepoRecord, rev: string): Promise<string | undefined> {
  if (rev === 'HEAD') rev = repo.defaultBranch;
  if (rev.startsWith('refs/heads/')) return repo.branches[rev.slice(11)];
  if (rev.startsWith('refs/tags/')) return repo.tags[rev.slice(10)]?.commit;
  if (Object.hasOwn(repo.branches, rev)) return repo.branches[rev];
  if (Object.hasOwn(repo.tags, rev)) return repo.tags[rev]!.commit;
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
export async function splitRevision(ctx: HubContext, repo: RepoRecord, segments: string[]): Promise<{ commit: CommitRecord; rev: string; rest: string[] }> {
  if (segments.length === 0) throw revisionNotFound('');
  for (let k = 1; k <= segments.length; k++) {
    const rev = segments.slice(0, k).join('/');
    const sha = await resolveSha(ctx, repo, rev);
    if (sha) return { commit: (await resolveCommit(ctx, repo, sha)), rev, rest: segments.slice(k) };
  }
  throw revisionNotFound(segments[0]!);
}

/** Repo-relative file path as the Hub accepts it: no empty, `.` or `..` segments, no `.git/`. */
export function checkRepoPath(p: unknown): string {
  if (typeof p !== 'string' || p === '') throw new HttpError(400, 'a file path is missing');
  const segs = p.split('/');
  if (p.startsWith('/') || segs.some((s) => s === '' || s === '.' || s === '..') || segs[0] === '.git' || /[\0\\]/.test(p)) {
    throw new HttpError(400, `invalid path in repo: ${JSON.stringify(p)}`);
  }
  return p;
}

/** Branch and tag names must be valid git refs (git check-ref-format, the practical subset). */
export function checkRefName(name: unknown, what: string): string {
  const ok = typeof name === 'string' && name.length > 0 && name.length <= 200
    && !/[\x00-\x20\x7f~^:?*[\\]/.test(name) && !name.includes('..') && !name.includes('@{') && !name.includes('//')
    && !name.startsWith('/') && !name.endsWith('/') && !name.endsWith('.') && !name.endsWith('.lock')
    && !name.split('/').some((s) => s.startsWith('.')) && name !== '@' && name !== 'HEAD' && !/^[0-9a-f]{40}$/.test(name);
  if (!ok) throw new HttpError(400, `invalid ${what} name ${JSON.stringify(name)}: it must be a valid git ref name`);
  return name as string;
}
