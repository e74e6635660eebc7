/**
 * Repo-level routes of the local Hub server: create/delete/settings, repo and revision info,
 * refs (branches, tags), commit history, whoami and validate-yaml.
 */
import { parse as parseYaml } from 'yaml';
import { DEFAULT_GITATTRIBUTES, writeCommit } from './server-commit.ts';
import { HttpError, readJson, repoNotFound, revisionNotFound, sendJson } from './server-http.ts';
import {
  checkRefName,
  checkRepoPath,
  openRepo,
  requireWrite,
  resolveCommit,
  resolveSha,
  USER_NAME,
  webPrefix,
  type HubContext,
  type HubRequest,
} from './server-context.ts';
import { repoNamePartProblem } from './repo-id.ts';
import { readSmallFile } from './server-files.ts';
import { bytesOf, lfsPointer, treeFileFor, type CommitRecord, type RepoRecord, type RepoType, type TreeFile } from './store.ts';
import { compareStrings } from '../util/compare.ts';

function checkRepoName(name: unknown, what: string): string {
  const problem = typeof name === 'string' ? repoNamePartProblem(name) : 'it is not a string';
  if (problem) throw new HttpError(400, `invalid ${what} ${JSON.stringify(name)}: ${problem}`);
  return name as string;
}

function repoTypeOf(v: unknown): RepoType {
  if (v === undefined || v === null) return 'model';
  if (v === 'dataset' || v === 'model' || v === 'space') return v;
  throw new HttpError(400, `unknown repo type ${JSON.stringify(v)}`);
}

function repoIdFromBody(body: Record<string, unknown>): string {
  const name = checkRepoName(body.name, 'repo name');
  const ns = body.organization === undefined || body.organization === null ? USER_NAME : checkRepoName(body.organization, 'organization');
  return `${ns}/${name}`;
}

/** `POST /api/repos/create` */
export async function handleCreateRepo(ctx: HubContext, r: HubRequest): Promise<void> {
  requireWrite(r);
  const body = await readJson(r.req);
  const type = repoTypeOf(body.type);
  const id = repoIdFromBody(body);
  const isPrivate = body.private === true || body.visibility === 'private';
  const initial: Record<string, TreeFile> = {};
  const attributes = new TextEncoder().encode(DEFAULT_GITATTRIBUTES);
  initial['.gitattributes'] = treeFileFor(await ctx.store.putObjectBytes(attributes), attributes.length, false, attributes);
  for (const f of Array.isArray(body.files) ? (body.files as Array<Record<string, unknown>>) : []) {
    const p = checkRepoPath(f?.path);
    const bytes = bytesOf(Buffer.from(String(f.content ?? ''), f.encoding === 'base64' ? 'base64' : 'utf8'));
    initial[p] = treeFileFor(await ctx.store.putObjectBytes(bytes), bytes.length, false, bytes);
  }
  await ctx.store.withRepoLock(type, id, async () => {
    if (await ctx.store.getRepo(type, id)) throw new HttpError(409, `You already created this ${type} repo: ${id}`);
    const repo: RepoRecord = {
      type,
      id,
      private: isPrivate,
      createdAt: new Date().toISOString(),
      defaultBranch: 'main',
      branches: {},
      tags: {},
    };
    const commit = await writeCommit(ctx, repo, undefined, 'initial commit', '', initial);
    repo.branches.main = commit.id;
    await ctx.store.saveRepo(repo);
  });
  sendJson(r.res, 200, { url: `${r.endpoint}/${webPrefix(type)}${id}`, name: id, id: `${type}:${id}` });
}

/** `DELETE /api/repos/delete` */
export async function handleDeleteRepo(ctx: HubContext, r: HubRequest): Promise<void> {
  requireWrite(r);
  const body = await readJson(r.req);
  const type = repoTypeOf(body.type);
  const id = repoIdFromBody(body);
  await ctx.store.withRepoLock(type, id, async () => {
    if (!(await ctx.store.getRepo(type, id))) throw repoNotFound(id);
    await ctx.store.deleteRepo(type, id);
  });
  sendJson(r.res, 200, {});
}

/** `PUT /api/{type}s/{id}/settings` `{private?|visibility?}` */
export async function handleSettings(ctx: HubContext, r: HubRequest, repo: RepoRecord): Promise<void> {
  const body = await readJson(r.req);
  await ctx.store.withRepoLock(repo.type, repo.id, async () => {
    const fresh = await openRepo(ctx, r, repo.type, repo.id, true);
    if (typeof body.private === 'boolean') fresh.private = body.private;
    if (body.visibility === 'private' || body.visibility === 'public') fresh.private = body.visibility === 'private';
    await ctx.store.saveRepo(fresh);
  });
  sendJson(r.res, 200, {});
}

async function cardData(ctx: HubContext, commit: CommitRecord): Promise<unknown> {
  const readme = commit.files['README.md'];
  if (!readme || readme.size > 4 * 1024 * 1024) return undefined;
  const fm = frontMatter((await readSmallFile(ctx, readme, 4 * 1024 * 1024)).toString('utf8'));
  if (fm === undefined) return undefined;
  try {
    const data: unknown = parseYaml(fm);
    return data && typeof data === 'object' && !Array.isArray(data) ? data : undefined;
  } catch {
    return undefined;
  }
}

/** YAML between a leading `---` line and the next `---` line, or undefined. */
function frontMatter(text: string): string | undefined {
  const m = /^---\r?\n([\s\S]*?)\r?\n?---\s*(?:\r?\n|$)/.exec(text);
  return m ? m[1] : undefined;
}

/** `GET /api/{type}s/{id}` and `GET /api/{type}s/{id}/revision/{rev}` */
export async function handleInfo(ctx: HubContext, r: HubRequest, repo: RepoRecord, rev: string): Promise<void> {
  const commit = await resolveCommit(ctx, repo, rev);
  const blobs = r.url.searchParams.get('blobs') === 'true' || r.url.searchParams.get('blobs') === '1';
  const siblings = Object.keys(commit.files)
    .sort()
    .map((p) => {
      const f = commit.files[p]!;
      if (!blobs) return { rfilename: p };
      const s: Record<string, unknown> = { rfilename: p, size: f.size, blobId: f.blobOid };
      if (f.lfs) s.lfs = { sha256: f.sha256, size: f.size, pointerSize: Buffer.byteLength(lfsPointer(f.sha256, f.size)) };
      return s;
    });
  const [author] = repo.id.split('/');
  const info: Record<string, unknown> = {
    _id: `${repo.type}:${repo.id}`,
    id: repo.id,
    author,
    sha: commit.id,
    lastModified: commit.date,
    createdAt: repo.createdAt,
    private: repo.private,
    gated: false,
    disabled: false,
    downloads: 0,
    likes: 0,
    tags: [],
    siblings,
  };
  const card = await cardData(ctx, commit);
  if (card) info.cardData = card;
  if (repo.type === 'model') info.modelId = repo.id;
  sendJson(r.res, 200, info, {}, r.head);
}

/** `POST /api/{type}s/{id}/tag/{rev}` `{tag, message?}` */
export async function handleCreateTag(ctx: HubContext, r: HubRequest, repo: RepoRecord, rev: string): Promise<void> {
  const body = await readJson(r.req);
  const tag = checkRefName(body.tag, 'tag');
  await ctx.store.withRepoLock(repo.type, repo.id, async () => {
    const fresh = await openRepo(ctx, r, repo.type, repo.id, true);
    const sha = await resolveSha(ctx, fresh, rev);
    if (!sha) throw revisionNotFound(rev);
    if (Object.hasOwn(fresh.tags, tag)) throw new HttpError(409, `tag ${tag} already exists (on commit ${fresh.tags[tag]!.commit})`);
    fresh.tags[tag] = typeof body.message === 'string' && body.message ? { commit: sha, message: body.message } : { commit: sha };
    await ctx.store.saveRepo(fresh);
  });
  sendJson(r.res, 200, {});
}

/** `DELETE /api/{type}s/{id}/tag/{tag}` */
export async function handleDeleteTag(ctx: HubContext, r: HubRequest, repo: RepoRecord, tag: string): Promise<void> {
  await ctx.store.withRepoLock(repo.type, repo.id, async () => {
    const fresh = await openRepo(ctx, r, repo.type, repo.id, true);
    if (!Object.hasOwn(fresh.tags, tag)) throw revisionNotFound(tag);
    delete fresh.tags[tag];
    await ctx.store.saveRepo(fresh);
  });
  sendJson(r.res, 200, {});
}

/** `POST /api/{type}s/{id}/branch/{branch}` `{startingPoint?, emptyBranch?, overwrite?}` */
export async function handleCreateBranch(ctx: HubContext, r: HubRequest, repo: RepoRecord, branch: string): Promise<void> {
  checkRefName(branch, 'branch');
  const body = await readJson(r.req);
  await ctx.store.withRepoLock(repo.type, repo.id, async () => {
    const fresh = await openRepo(ctx, r, repo.type, repo.id, true);
    if (Object.hasOwn(fresh.branches, branch) && body.overwrite !== true) throw new HttpError(409, `branch ${branch} already exists`);
    let sha: string | undefined;
    if (body.emptyBranch === true) {
      sha = (await writeCommit(ctx, fresh, undefined, 'Create empty branch', '', {})).id;
    } else {
      const from = typeof body.startingPoint === 'string' ? body.startingPoint : fresh.defaultBranch;
      sha = await resolveSha(ctx, fresh, from);
      if (!sha) throw revisionNotFound(from);
    }
    fresh.branches[branch] = sha;
    await ctx.store.saveRepo(fresh);
  });
  sendJson(r.res, 200, {});
}

/** `DELETE /api/{type}s/{id}/branch/{branch}` */
export async function handleDeleteBranch(ctx: HubContext, r: HubRequest, repo: RepoRecord, branch: string): Promise<void> {
  await ctx.store.withRepoLock(repo.type, repo.id, async () => {
    const fresh = await openRepo(ctx, r, repo.type, repo.id, true);
    if (branch === fresh.defaultBranch) throw new HttpError(403, `the default branch ${branch} cannot be deleted`);
    if (!Object.hasOwn(fresh.branches, branch)) throw revisionNotFound(branch);
    delete fresh.branches[branch];
    await ctx.store.saveRepo(fresh);
  });
  sendJson(r.res, 200, {});
}

/** `GET /api/{type}s/{id}/refs[?include_prs=1]` */
export function handleRefs(r: HubRequest, repo: RepoRecord): void {
  const out: Record<string, unknown> = {
    branches: Object.keys(repo.branches)
      .sort(compareStrings)
      .map((name) => ({ name, ref: `refs/heads/${name}`, targetCommit: repo.branches[name] })),
    tags: Object.keys(repo.tags)
      .sort(compareStrings)
      .map((name) => ({ name, ref: `refs/tags/${name}`, targetCommit: repo.tags[name]!.commit })),
    converts: [],
  };
  if (r.url.searchParams.get('include_prs') === '1' || r.url.searchParams.get('include_prs') === 'true') out.pullRequests = [];
  sendJson(r.res, 200, out);
}

/** `GET /api/{type}s/{id}/commits/{rev}?limit=&p=`: first-parent history, newest first, paginated. */
export async function handleCommits(ctx: HubContext, r: HubRequest, repo: RepoRecord, rev: string): Promise<void> {
  const head = await resolveCommit(ctx, repo, rev);
  const limitParam = Number(r.url.searchParams.get('limit') ?? '50');
  const limit = Number.isSafeInteger(limitParam) && limitParam > 0 ? Math.min(limitParam, 1000) : 50;
  const pageParam = Number(r.url.searchParams.get('p') ?? '0');
  const page = Number.isSafeInteger(pageParam) && pageParam >= 0 ? pageParam : 0;
  const items: unknown[] = [];
  let index = 0;
  let more = false;
  for (
    let c: CommitRecord | undefined = head;
    c;
    c = c.parents[0] ? await ctx.store.getCommit(repo.type, repo.id, c.parents[0]) : undefined
  ) {
    if (index >= (page + 1) * limit) {
      more = true;
      break;
    }
    if (index >= page * limit) {
      items.push({ id: c.id, title: c.title, message: c.message, authors: c.authors.map((user) => ({ user, avatar: '' })), date: c.date });
    }
    index += 1;
  }
  const headers: Record<string, string> = {};
  if (more) {
    const next = new URL(r.url.pathname + r.url.search, r.endpoint);
    next.searchParams.set('p', String(page + 1));
    headers.Link = `<${next.href}>; rel="next"`;
  }
  sendJson(r.res, 200, items, headers);
}

/** `GET /api/whoami-v2` */
export function handleWhoami(r: HubRequest): void {
  if (!r.role)
    throw new HttpError(401, r.unknownToken ? 'Invalid credentials in Authorization header' : 'this request needs an access token');
  sendJson(r.res, 200, {
    type: 'user',
    id: USER_NAME,
    name: USER_NAME,
    fullname: 'Local Hub user',
    email: null,
    emailVerified: false,
    isPro: false,
    orgs: [],
    auth: { type: 'access_token', accessToken: { displayName: 'local', role: r.role } },
  });
}

/** `POST /api/validate-yaml` `{content, repoType}`: 400 with `errors` when the front matter is not a YAML mapping. */
export async function handleValidateYaml(r: HubRequest): Promise<void> {
  const body = await readJson(r.req);
  const fm = frontMatter(typeof body.content === 'string' ? body.content : '');
  if (fm === undefined) {
    sendJson(r.res, 200, { errors: [], warnings: [{ message: 'empty or missing yaml metadata in repo card' }] });
    return;
  }
  let error: string | undefined;
  try {
    const data: unknown = parseYaml(fm);
    if (data !== null && (typeof data !== 'object' || Array.isArray(data))) error = 'the YAML metadata must be a mapping';
  } catch (err) {
    error = `invalid YAML: ${(err as Error).message.split('\n')[0]}`;
  }
  if (error) sendJson(r.res, 400, { error, errors: [{ message: error }], warnings: [] });
  else sendJson(r.res, 200, { errors: [], warnings: [] });
}
