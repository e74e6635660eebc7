/**
 * Xet on the local Hub server (https://huggingface.co/docs/xet): the Hub's token endpoints
 * (`xet-read-token`, `xet-write-token`) and the CAS API under `{endpoint}/_xet` (xorb and shard
 * upload, the dedup query, reconstruction), plus the signed xorb byte-range URLs that the
 * reconstructions hand out. CAS tokens are HMAC-signed by the server, scoped to one repo and to
 * read or write, and expire after XET_TOKEN_SECONDS.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { drain, HttpError, parseRange, readBody, sendJson } from './server-http.ts';
import { openRepo, resolveSha, type HubContext, type HubRequest } from './server-context.ts';
import type { RepoRecord } from './store.ts';
import { MAX_SHARD_BYTES, XetFormatError, parseShard } from './xet-format.ts';
import { XET_HEX_RE } from './xet-hash.ts';
import { XetStore, type XetFileRecord } from './xet-store.ts';

/** How long a CAS token (and the xorb URLs of a reconstruction) stays valid. */
export const XET_TOKEN_SECONDS = 3600;
/** Most files one batch reconstruction request may name. */
export const MAX_BATCH_RECONSTRUCTIONS = 1000;

interface XetClaims {
  /** `{type}/{id}` */
  repo: string;
  scope: 'read' | 'write';
  exp: number;
}

const casUrl = (r: HubRequest): string => `${r.endpoint}/_xet`;
const repoKey = (repo: RepoRecord): string => `${repo.type}/${repo.id}`;

function sign(ctx: HubContext, what: string): string {
  return createHmac('sha256', ctx.secret).update(`xet:${what}`).digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function makeToken(ctx: HubContext, claims: XetClaims): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `xet_${body}.${sign(ctx, body)}`;
}

/** The claims of the CAS token in Authorization; 401 when missing, forged or expired, 403 when read-only for a write. */
function casClaims(ctx: HubContext, r: HubRequest, need: 'read' | 'write'): XetClaims {
  const m = /^Bearer\s+xet_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\s*$/.exec(r.req.headers.authorization ?? '');
  if (!m || !sameText(sign(ctx, m[1]!), m[2]!))
    throw new HttpError(401, 'a Xet CAS token is missing or invalid: get one from xet-read-token or xet-write-token');
  const claims = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as XetClaims;
  if (claims.exp * 1000 < Date.now()) throw new HttpError(401, 'the Xet CAS token has expired: refresh it');
  if (need === 'write' && claims.scope !== 'write')
    throw new HttpError(403, 'this Xet CAS token has the read scope: uploads need a write token');
  return claims;
}

/** `GET /api/{type}s/{id}/xet-{read|write}-token/{rev}`: JSON for @huggingface/hub, headers for huggingface_hub. */
export async function handleXetToken(
  ctx: HubContext,
  r: HubRequest,
  repo: RepoRecord,
  scope: 'read' | 'write',
  rev: string,
): Promise<void> {
  if (scope === 'write') await openRepo(ctx, r, repo.type, repo.id, true);
  if (!(await resolveSha(ctx, repo, rev))) {
    // A write token may name a branch that a first commit creates; reads need an existing revision.
    if (scope === 'read' || !/^[^/]+$/.test(rev)) throw new HttpError(404, `Invalid rev id: ${rev}`, 'RevisionNotFound');
  }
  const exp = Math.floor(Date.now() / 1000) + XET_TOKEN_SECONDS;
  const accessToken = makeToken(ctx, { repo: repoKey(repo), scope, exp });
  sendJson(
    r.res,
    200,
    { accessToken, casUrl: casUrl(r), exp },
    {
      'X-Xet-Cas-Url': casUrl(r),
      'X-Xet-Access-Token': accessToken,
      'X-Xet-Token-Expiration': String(exp),
    },
  );
}

/** The headers that tell Xet-aware clients a resolved file is Xet-backed, and where to get a read token. */
export function xetDownloadHeaders(r: HubRequest, repo: RepoRecord, rev: string, xetHash: string): Record<string, string> {
  const api = `${r.endpoint}/api/${repo.type}s/${repo.id}`;
  return {
    'X-Xet-Hash': xetHash,
    'X-Xet-Refresh-Route': `${api}/xet-read-token/${encodeURIComponent(rev)}`,
    Link: `<${api}/xet-read-token/${encodeURIComponent(rev)}>; rel="xet-auth", <${casUrl(r)}/v1/reconstructions/${xetHash}>; rel="xet-reconstruction-info"`,
  };
}

function badUpload(err: unknown): never {
  if (err instanceof XetFormatError) throw new HttpError(400, `Xet upload refused, nothing stored: ${err.message}`);
  throw err;
}

function xorbUrl(ctx: HubContext, r: HubRequest, xorb: string, range: { start: number; end: number }, exp: number): string {
  const what = `${xorb}:${range.start}-${range.end}:${exp}`;
  return `${r.endpoint}/_xet/xorb/${xorb}?bytes=${range.start}-${range.end}&exp=${exp}&sig=${sign(ctx, what)}`;
}

async function reconstruction(
  ctx: HubContext,
  r: HubRequest,
  rec: XetFileRecord,
  range: { start: number; end: number } | undefined,
  v2: boolean,
): Promise<Record<string, unknown>> {
  const xs = new XetStore(ctx.store);
  const exp = Math.floor(Date.now() / 1000) + XET_TOKEN_SECONDS;
  const start = range?.start ?? 0;
  const end = range?.end ?? rec.size - 1;
  const terms: unknown[] = [];
  const fetch: Record<string, Map<string, unknown>> = {};
  let pos = 0;
  let offset = 0;
  for (const t of rec.terms) {
    const termStart = pos;
    pos += t.rawBytes;
    if (pos <= start || termStart > end) continue;
    if (terms.length === 0) offset = start - termStart;
    terms.push({ hash: t.xorb, unpacked_length: t.rawBytes, range: { start: t.start, end: t.end } });
    const idx = await xs.xorbIndex(t.xorb);
    if (!idx) throw new HttpError(500, `xorb ${t.xorb} is missing from the store`);
    const bytes = XetStore.byteRange(idx, t.start, t.end);
    const url = xorbUrl(ctx, r, t.xorb, bytes, exp);
    const entries = (fetch[t.xorb] ??= new Map());
    const chunks = { start: t.start, end: t.end };
    entries.set(`${t.start}-${t.end}`, v2 ? { url, ranges: [{ chunks, bytes }] } : { range: chunks, url, url_range: bytes });
  }
  const info = Object.fromEntries(Object.entries(fetch).map(([k, m]) => [k, [...m.values()]]));
  return v2 ? { offset_into_first_range: offset, terms, xorbs: info } : { offset_into_first_range: offset, terms, fetch_info: info };
}

async function readableFile(ctx: HubContext, claims: XetClaims, hex: string): Promise<XetFileRecord> {
  if (!XET_HEX_RE.test(hex)) throw new HttpError(400, `file id ${JSON.stringify(hex)} is not 64 lowercase hex digits`);
  const rec = await new XetStore(ctx.store).fileRecord(hex);
  // Files of other repos look like files that do not exist.
  if (!rec?.repos.includes(claims.repo)) throw new HttpError(404, `Xet file ${hex} not found`);
  return rec;
}

/** Routes under `/_xet/`: `segs` are the path segments after it. */
export async function handleCas(ctx: HubContext, r: HubRequest, segs: string[]): Promise<void> {
  const method = r.req.method ?? 'GET';
  const xs = new XetStore(ctx.store);
  const [ver, kind, a, b] = segs;

  if (ver === 'xorb' && kind && (method === 'GET' || method === 'HEAD')) return serveXorbRange(ctx, r, kind);

  if (ver === 'v1' && kind === 'xorbs' && a === 'default' && b && segs.length === 4) {
    if (method === 'POST') {
      casClaims(ctx, r, 'write');
      let inserted = false;
      try {
        inserted = await xs.putXorb(r.req, b, (n) => {
          ctx.stats.xetBytesReceived += n;
        });
      } catch (err) {
        await drain(r.req);
        badUpload(err);
      }
      if (inserted) ctx.stats.xorbsStored += 1;
      return sendJson(r.res, 200, { was_inserted: inserted });
    }
    if (method === 'HEAD') {
      casClaims(ctx, r, 'read');
      const size = await xs.hasXorb(b);
      if (size === undefined) throw new HttpError(404, `xorb ${b} not found`);
      r.res.writeHead(200, { 'Content-Length': String(size) }).end();
      return;
    }
  }

  if (ver === 'v1' && kind === 'shards' && segs.length === 2 && method === 'POST') {
    const claims = casClaims(ctx, r, 'write');
    const body = await readBody(r.req, MAX_SHARD_BYTES);
    ctx.stats.xetBytesReceived += body.length;
    try {
      await xs.putShard(parseShard(new Uint8Array(body.buffer, body.byteOffset, body.byteLength)), claims.repo);
    } catch (err) {
      badUpload(err);
    }
    return sendJson(r.res, 200, { result: 1 });
  }

  if (ver === 'v1' && kind === 'chunks' && (a === 'default-merkledb' || a === 'default') && b && segs.length === 4 && method === 'GET') {
    casClaims(ctx, r, 'read');
    const shard = await xs.dedupShard(b);
    if (!shard) throw new HttpError(404, `chunk ${b} is not known for deduplication`);
    r.res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(shard.length) });
    r.res.end(shard);
    return;
  }

  if ((ver === 'v1' || ver === 'v2') && kind === 'reconstructions' && a && segs.length === 3 && method === 'GET') {
    const rec = await readableFile(ctx, casClaims(ctx, r, 'read'), a);
    const range = parseRange(r.req.headers.range, rec.size);
    if (range === 'unsatisfiable') throw new HttpError(416, `range ${r.req.headers.range} is outside the file's ${rec.size} bytes`);
    return sendJson(r.res, 200, await reconstruction(ctx, r, rec, range, ver === 'v2'));
  }

  if (ver === 'v1' && kind === 'reconstructions' && segs.length === 2 && (method === 'POST' || method === 'GET')) {
    const claims = casClaims(ctx, r, 'read');
    let ids: string[];
    if (method === 'POST') {
      const body = (await readBody(r.req, 1024 * 1024)).toString('utf8');
      let keys: unknown;
      try {
        keys = JSON.parse(body);
      } catch {
        throw new HttpError(400, 'batch reconstruction body is not JSON');
      }
      if (!Array.isArray(keys)) throw new HttpError(400, 'batch reconstruction body must be an array of {prefix, hash}');
      ids = keys.map((k) => String((k as { hash?: unknown })?.hash ?? ''));
    } else ids = r.url.searchParams.getAll('file_id');
    if (ids.length > MAX_BATCH_RECONSTRUCTIONS) throw new HttpError(400, `more than ${MAX_BATCH_RECONSTRUCTIONS} files in one batch`);
    const files: Record<string, unknown> = {};
    const fetchInfo: Record<string, unknown[]> = {};
    for (const id of new Set(ids)) {
      const one = await reconstruction(ctx, r, await readableFile(ctx, claims, id), undefined, false);
      files[id] = one.terms;
      for (const [k, v] of Object.entries(one.fetch_info as Record<string, unknown[]>)) (fetchInfo[k] ??= []).push(...v);
    }
    return sendJson(r.res, 200, { files, fetch_info: fetchInfo });
  }

  if (ver === 'v1' && kind === 'files' && a && segs.length === 3 && (method === 'HEAD' || method === 'GET')) {
    const rec = await readableFile(ctx, casClaims(ctx, r, 'read'), a);
    r.res.writeHead(200, { 'Content-Length': String(rec.size) }).end();
    return;
  }

  // /v2/shards and anything newer: clients fall back to v1 on 404.
  throw new HttpError(404, `no Xet CAS route for ${method} /_xet/${segs.join('/')}`);
}

/** `GET /_xet/xorb/{hash}?bytes=s-e&exp=&sig=`: the signed byte range of a stored xorb (Range within it). */
async function serveXorbRange(ctx: HubContext, r: HubRequest, xorb: string): Promise<void> {
  const q = r.url.searchParams;
  const m = /^(\d+)-(\d+)$/.exec(q.get('bytes') ?? '');
  const exp = Number(q.get('exp'));
  if (!m || !XET_HEX_RE.test(xorb) || !sameText(sign(ctx, `${xorb}:${m[1]}-${m[2]}:${q.get('exp')}`), q.get('sig') ?? ''))
    throw new HttpError(403, 'xorb URL signature is missing or wrong');
  if (exp * 1000 < Date.now()) throw new HttpError(403, 'xorb URL has expired: ask for the reconstruction again');
  const signed = { start: Number(m[1]), end: Number(m[2]) };
  const len = signed.end - signed.start + 1;
  const asked = parseRange(r.req.headers.range, signed.end + 1);
  if (asked === 'unsatisfiable' || (asked && (asked.start < signed.start || asked.end > signed.end)))
    throw new HttpError(416, 'Range is outside the signed byte range of this xorb URL');
  const range = asked ?? signed;
  const size = await new XetStore(ctx.store).hasXorb(xorb);
  if (size === undefined || signed.end >= size) throw new HttpError(404, `xorb ${xorb} not found`);
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(range.end - range.start + 1),
  };
  if (asked) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
  r.res.writeHead(asked ? 206 : 200, headers);
  if (r.head || len <= 0) {
    r.res.end();
    return;
  }
  const stream = new XetStore(ctx.store).readXorb(xorb, range);
  stream.on('error', () => r.res.destroy());
  stream.pipe(r.res);
}

/** For the LFS batch: a Xet answer that sends @huggingface/hub to the CAS (its refresh URL is the write-token route). */
export function xetBatchObject(r: HubRequest, repo: RepoRecord, branch: string, oid: string, size: number): Record<string, unknown> {
  const href = `${r.endpoint}/api/${repo.type}s/${repo.id}/xet-write-token/${encodeURIComponent(branch)}`;
  return { oid, size, authenticated: true, actions: { upload: { href } } };
}
