/**
 * A local Hugging Face Hub server (node:http, no framework) that the official clients accept:
 * @huggingface/hub (JS) and huggingface_hub / datasets (Python, with HF_ENDPOINT pointing here).
 * It serves the minimal surface those clients call (repo create/info, tree listing, preupload, commit,
 * LFS batch, resolve; https://huggingface.co/docs/hub/api) and the Xet storage protocol the clients
 * use by default (server-xet.ts), with on-disk storage
 * (see store.ts) that survives restarts. Loopback by default, and only loopback unless tokens are
 * configured; writes and private reads need a listed token (see server-auth.ts).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { handleCommit, handlePreupload } from './server-commit.ts';
import { InputError, UsageError } from '../errors.ts';
import { isServerToken, newServerToken, TokenTable, type ServerToken } from './server-auth.ts';
import {
  TYPE_BY_PLURAL,
  openRepo,
  repoIdFromSegments,
  type HubContext,
  type HubRequest,
  type HubSettings,
  type HubStats,
} from './server-context.ts';
import { handleDownload, handlePathsInfo, handleTree } from './server-files.ts';
import { decodeSegment, HttpError, sendError } from './server-http.ts';
import { handleLfsBatch, handleLfsComplete, handleLfsPart, handleLfsPut, handleLfsVerify } from './server-lfs.ts';
import {
  handleCommits,
  handleCreateBranch,
  handleCreateRepo,
  handleCreateTag,
  handleDeleteBranch,
  handleDeleteRepo,
  handleDeleteTag,
  handleInfo,
  handleRefs,
  handleSettings,
  handleValidateYaml,
  handleWhoami,
} from './server-repo.ts';
import { HubStore, type RepoType } from './store.ts';
import { handleCas, handleXetToken } from './server-xet.ts';

export interface HubServerOptions extends Partial<HubSettings> {
  /** Storage directory (created when missing). */
  dir: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. Any other than loopback is refused unless `tokens` are given. */
  host?: string;
  /**
   * The tokens this server accepts. When none are given it makes one write token, once, and keeps
   * it in `{dir}/token` (0600); `token` of the result is that token.
   */
  tokens?: ServerToken[];
  /** One line per request: method, path (never the query, which holds upload signatures), status. */
  log?: (line: string) => void;
}

export interface HubServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  stats(): HubStats;
  /** The token kept in `{dir}/token`, when the server made it (no `tokens` were given). */
  token?: string;
  /** Where that token is kept. */
  tokenFile?: string;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost', '[::1]']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host.toLowerCase()) || /^127(?:\.\d{1,3}){3}$/.test(host);
}

export async function startHubServer(opts: HubServerOptions): Promise<HubServer> {
  const host = opts.host ?? '127.0.0.1';
  const configured = opts.tokens !== undefined && opts.tokens.length > 0;
  if (!configured && !isLoopbackHost(host)) {
    throw new UsageError(
      `--host ${host} is not loopback: give --token or --tokens-file so that only listed tokens can write or read private repos`,
    );
  }
  const store = await HubStore.open(opts.dir);
  const ownToken = configured ? undefined : (await store.privateFile('token', () => `${newServerToken()}\n`)).trim();
  if (ownToken !== undefined && !isServerToken(ownToken)) {
    // An emptied or edited file would leave a server no client can write to, and say nothing.
    throw new InputError(
      'does not hold a token ("hf_" and 8 to 200 letters, digits, "_" or "-"): fix it, or delete it and the server makes a new one',
      { file: path.join(store.dir, 'token') },
    );
  }
  const ctx: HubContext = {
    store,
    secret: await store.secret(),
    tokens: new TokenTable(configured ? opts.tokens! : [{ token: ownToken!, role: 'write' }]),
    stats: { lfsBytesReceived: 0, xetBytesReceived: 0, xorbsStored: 0, commits: 0 },
    treePageSize: opts.treePageSize ?? 1000,
    multipartChunkBytes: opts.multipartChunkBytes ?? 16 * 1024 * 1024,
    lfsThresholdBytes: opts.lfsThresholdBytes ?? 10 * 1024 * 1024,
  };
  let baseUrl = '';
  const server = createServer((req, res) => {
    const started = req.method ?? 'GET';
    res.on('finish', () => opts.log?.(`${started} ${(req.url ?? '').split('?')[0]} ${res.statusCode}`));
    handle(ctx, req, res, baseUrl).catch((err: unknown) => {
      const e = err instanceof HttpError ? err : new HttpError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`);
      if (!(err instanceof HttpError))
        opts.log?.(`internal error on ${started} ${(req.url ?? '').split('?')[0]}: ${err instanceof Error ? err.stack : String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendError(res, e, req.method === 'HEAD');
      // Do not keep reading a large body we have already refused.
      if (!req.readableEnded) req.resume();
    });
  });
  server.listen(opts.port ?? 0, host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: baseUrl,
    port,
    stats: () => ({ ...ctx.stats }),
    ...(ownToken ? { token: ownToken, tokenFile: path.join(store.dir, 'token') } : {}),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  // Never echo the token: the message says only what is wrong with it.
  if (!m) throw new HttpError(401, 'Invalid credentials in Authorization header: expected "Bearer hf_..."');
  if (!m[1]!.startsWith('hf_')) throw new HttpError(401, 'Invalid credentials in Authorization header: access tokens start with "hf_"');
  return m[1];
}

async function handle(ctx: HubContext, req: IncomingMessage, res: ServerResponse, baseUrl: string): Promise<void> {
  const hostHeader = req.headers.host;
  const endpoint = hostHeader && /^[A-Za-z0-9.:[\]-]+$/.test(hostHeader) ? `http://${hostHeader}` : baseUrl;
  const url = new URL(req.url ?? '/', endpoint);
  const method = req.method ?? 'GET';
  if (url.pathname.startsWith('/_xet/')) {
    // The CAS takes its own (xet_) tokens, never a Hub token.
    const xr: HubRequest = { req, res, url, endpoint, unknownToken: false, head: method === 'HEAD' };
    return handleCas(ctx, xr, url.pathname.split('/').slice(2).map(decodeSegment));
  }
  const token = bearer(req);
  const role = token === undefined ? undefined : ctx.tokens.roleOf(token);
  const r: HubRequest = { req, res, url, endpoint, role, unknownToken: token !== undefined && role === undefined, head: method === 'HEAD' };
  const segs = url.pathname.split('/').slice(1);
  const is = (...methods: string[]): boolean => methods.includes(method);
  const notFound = (): never => {
    throw new HttpError(404, `no route for ${method} ${url.pathname}`);
  };

  if (segs[0] === '_lfs') {
    const rest = segs.slice(2);
    if (segs[1] === 'upload' && is('PUT')) return handleLfsPut(ctx, r, rest);
    if (segs[1] === 'part' && is('PUT')) return handleLfsPart(ctx, r, rest);
    if (segs[1] === 'complete' && is('POST')) return handleLfsComplete(ctx, r, rest);
    if (segs[1] === 'verify' && is('POST')) return handleLfsVerify(ctx, r, rest);
    return notFound();
  }

  if (segs[0] === 'api') {
    if (segs[1] === 'whoami-v2' && is('GET') && segs.length === 2) return handleWhoami(r);
    if (segs[1] === 'validate-yaml' && is('POST')) return handleValidateYaml(r);
    if (segs[1] === 'repos' && segs[2] === 'create' && is('POST')) return handleCreateRepo(ctx, r);
    if (segs[1] === 'repos' && segs[2] === 'delete' && is('DELETE')) return handleDeleteRepo(ctx, r);
    const type = TYPE_BY_PLURAL[segs[1] ?? ''];
    if (!type || segs.length < 4) return notFound();
    const id = repoIdFromSegments(segs[2]!, segs[3]!);
    const action = segs[4];
    const rest = segs.slice(5).map(decodeSegment);
    const rev = rest.join('/');
    const write = !is('GET', 'HEAD') && action !== 'paths-info';
    const repo = await openRepo(ctx, r, type, id, write);
    if (action === undefined && is('GET', 'HEAD')) return handleInfo(ctx, r, repo, repo.defaultBranch);
    if (action === 'revision' && is('GET', 'HEAD')) return handleInfo(ctx, r, repo, rev);
    if (action === 'preupload' && is('POST')) return handlePreupload(ctx, r, repo, rev);
    if (action === 'commit' && is('POST')) return handleCommit(ctx, r, repo, rev);
    if (action === 'tag' && is('POST')) return handleCreateTag(ctx, r, repo, rev);
    if (action === 'tag' && is('DELETE')) return handleDeleteTag(ctx, r, repo, rev);
    if (action === 'branch' && is('POST')) return handleCreateBranch(ctx, r, repo, rev);
    if (action === 'branch' && is('DELETE')) return handleDeleteBranch(ctx, r, repo, rev);
    if (action === 'refs' && is('GET')) return handleRefs(r, repo);
    if (action === 'tree' && is('GET')) return handleTree(ctx, r, repo, rest);
    if (action === 'paths-info' && is('POST')) return handlePathsInfo(ctx, r, repo, rest);
    if (action === 'commits' && is('GET')) return handleCommits(ctx, r, repo, rev);
    if (action === 'xet-read-token' && is('GET')) return handleXetToken(ctx, r, repo, 'read', rev);
    if (action === 'xet-write-token' && is('GET')) return handleXetToken(ctx, r, repo, 'write', rev);
    if (action === 'settings' && is('PUT')) return handleSettings(ctx, r, repo);
    return notFound();
  }

  // Web routes: /{datasets|spaces/}{ns}/{name}/resolve|raw/{rev}/{path} and /{...}{name}.git/info/lfs/...
  let type: RepoType = 'model';
  let web = segs;
  if (segs[0] === 'datasets' || segs[0] === 'spaces') {
    type = TYPE_BY_PLURAL[segs[0]]!;
    web = segs.slice(1);
  }
  if (web.length < 3) return notFound();
  if (decodeSegment(web[1]!).endsWith('.git')) {
    if (web.slice(2).join('/') === 'info/lfs/objects/batch' && is('POST')) {
      const name = encodeURIComponent(decodeSegment(web[1]!).slice(0, -4));
      const repo = await openRepo(ctx, r, type, repoIdFromSegments(web[0]!, name), true);
      return handleLfsBatch(ctx, r, repo);
    }
    return notFound();
  }
  if ((web[2] === 'resolve' || web[2] === 'raw') && is('GET', 'HEAD')) {
    const repo = await openRepo(ctx, r, type, repoIdFromSegments(web[0]!, web[1]!));
    return handleDownload(ctx, r, repo, web.slice(3).map(decodeSegment), web[2] === 'raw');
  }
  return notFound();
}
