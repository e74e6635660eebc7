/**
 * Git LFS on the local Hub server: the batch API (basic and multipart transfers, and `xet` for
 * clients that offer it, which then upload through the CAS, see server-xet.ts), self-authorizing
 * upload URLs, PUT with sha256 check, multipart completion, and the verify call huggingface_hub makes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { drain, HttpError, readJson, sendJson } from './server-http.ts';
import type { HubContext, HubRequest } from './server-context.ts';
import { ObjectMismatchError, type RepoRecord } from './store.ts';
import { xetBatchObject } from './server-xet.ts';
import { XetStore } from './xet-store.ts';

const LFS_JSON = 'application/vnd.git-lfs+json';

function sign(ctx: HubContext, what: string): string {
  return createHmac('sha256', ctx.secret).update(what).digest('hex');
}

/** The LFS client sends no Authorization on PUTs: the URL itself carries an HMAC of what it allows. */
function checkSignature(ctx: HubContext, r: HubRequest, what: string): void {
  const got = new TextEncoder().encode(r.url.searchParams.get('sig') ?? '');
  const want = new TextEncoder().encode(sign(ctx, what));
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new HttpError(403, 'LFS URL signature is missing or wrong');
}

function parseOidSize(oidRaw: string | undefined, sizeRaw: string | undefined): { oid: string; size: number } {
  const oid = oidRaw ?? '';
  const size = Number(sizeRaw);
  if (!/^[0-9a-f]{64}$/.test(oid) || !Number.isSafeInteger(size) || size < 0) throw new HttpError(400, 'invalid LFS oid or size in URL');
  return { oid, size };
}

export async function handleLfsBatch(ctx: HubContext, r: HubRequest, repo: RepoRecord): Promise<void> {
  const body = await readJson(r.req);
  if (body.operation !== 'upload')
    throw new HttpError(
      422,
      `LFS batch operation ${JSON.stringify(body.operation)} is not supported here (only "upload"); download through /resolve/`,
    );
  const transfers = Array.isArray(body.transfers) ? (body.transfers as unknown[]) : ['basic'];
  const canMultipart = transfers.includes('multipart');
  const useXet = transfers.includes('xet');
  if (!transfers.includes('basic') && !canMultipart && !useXet)
    throw new HttpError(422, 'LFS batch: none of the offered transfers is supported (basic, multipart, xet)');
  const ref = (body.ref as { name?: unknown } | undefined)?.name;
  const branch = typeof ref === 'string' ? ref.replace(/^refs\/heads\//, '') : repo.defaultBranch;
  const xs = new XetStore(ctx.store);
  if (body.hash_algo !== undefined && body.hash_algo !== 'sha256' && body.hash_algo !== 'sha_256') {
    throw new HttpError(422, `LFS batch: hash_algo ${JSON.stringify(body.hash_algo)} is not supported (sha256)`);
  }
  if (!Array.isArray(body.objects)) throw new HttpError(422, 'LFS batch: "objects" is missing');
  let usedMultipart = false;
  const objects = [];
  for (const o of body.objects as Array<Record<string, unknown>>) {
    const oid = String(o?.oid ?? '');
    const size = Number(o?.size);
    if (!/^[0-9a-f]{64}$/.test(oid) || !Number.isSafeInteger(size) || size < 0) {
      objects.push({
        oid,
        size: o?.size,
        error: { code: 422, message: 'oid must be a lowercase sha256 hex and size a non-negative integer' },
      });
      continue;
    }
    const stored = (await ctx.store.objectSize(oid)) ?? (await xs.fileBySha256(oid))?.size;
    if (stored === size) {
      objects.push({ oid, size, authenticated: true }); // already here: no actions, nothing to upload
      continue;
    }
    if (stored !== undefined) {
      objects.push({ oid, size, error: { code: 422, message: `object ${oid} is stored with ${stored} bytes, not ${size}` } });
      continue;
    }
    if (useXet) {
      objects.push(xetBatchObject(r, repo, branch, oid, size));
      continue;
    }
    // Signed like the upload URL: unsigned, verify would tell anyone whether a private file's bytes are stored.
    const verify = { href: `${r.endpoint}/_lfs/verify/${oid}/${size}?sig=${sign(ctx, `verify:${oid}:${size}`)}` };
    const chunk = ctx.multipartChunkBytes;
    if (canMultipart && size >= 2 * chunk) {
      usedMultipart = true;
      const header: Record<string, string> = { chunk_size: String(chunk) };
      const parts = Math.ceil(size / chunk);
      const partSig = sign(ctx, `part:${oid}:${size}:${chunk}`);
      for (let i = 1; i <= parts; i++)
        header[String(i).padStart(5, '0')] = `${r.endpoint}/_lfs/part/${oid}/${size}/${chunk}/${i}?sig=${partSig}`;
      const href = `${r.endpoint}/_lfs/complete/${oid}/${size}/${chunk}?sig=${sign(ctx, `complete:${oid}:${size}:${chunk}`)}`;
      objects.push({ oid, size, authenticated: true, actions: { upload: { href, header }, verify } });
    } else {
      const href = `${r.endpoint}/_lfs/upload/${oid}/${size}?sig=${sign(ctx, `upload:${oid}:${size}`)}`;
      objects.push({ oid, size, authenticated: true, actions: { upload: { href }, verify } });
    }
  }
  sendJson(r.res, 200, { transfer: useXet ? 'xet' : usedMultipart ? 'multipart' : 'basic', objects }, {}, false, LFS_JSON);
}

async function storeOrReject(r: HubRequest, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (err) {
    if (err instanceof ObjectMismatchError) {
      await drain(r.req);
      throw new HttpError(400, `LFS upload rejected, nothing stored: ${err.message}`);
    }
    throw err;
  }
}

/** `PUT /_lfs/upload/{oid}/{size}`: the whole object. */
export async function handleLfsPut(ctx: HubContext, r: HubRequest, segs: string[]): Promise<void> {
  const { oid, size } = parseOidSize(segs[0], segs[1]);
  checkSignature(ctx, r, `upload:${oid}:${size}`);
  const count = (n: number): void => {
    ctx.stats.lfsBytesReceived += n;
  };
  if ((await ctx.store.objectSize(oid)) === size) {
    r.req.on('data', (c: Buffer) => count(c.length));
    await drain(r.req);
  } else {
    await storeOrReject(r, () => ctx.store.putObjectStream(r.req, oid, size, count));
  }
  r.res.writeHead(200, { 'Content-Length': '0' }).end();
}

/** `PUT /_lfs/part/{oid}/{size}/{chunk}/{n}`: one multipart part; answers its ETag. */
export async function handleLfsPart(ctx: HubContext, r: HubRequest, segs: string[]): Promise<void> {
  const { oid, size } = parseOidSize(segs[0], segs[1]);
  const chunk = Number(segs[2]);
  const part = Number(segs[3]);
  checkSignature(ctx, r, `part:${oid}:${size}:${chunk}`);
  if (!Number.isSafeInteger(part) || part < 1 || part > Math.ceil(size / chunk))
    throw new HttpError(400, `part number ${segs[3]} is out of range`);
  const partBytes = Math.min(chunk, size - (part - 1) * chunk);
  let etag = '';
  await storeOrReject(r, async () => {
    etag = await ctx.store.putPart(oid, part, r.req, partBytes, (n) => {
      ctx.stats.lfsBytesReceived += n;
    });
  });
  r.res.writeHead(200, { ETag: `"${etag}"`, 'Content-Length': '0' }).end();
}

/** `POST /_lfs/complete/{oid}/{size}/{chunk}`: join the parts, verify sha256 and size. */
export async function handleLfsComplete(ctx: HubContext, r: HubRequest, segs: string[]): Promise<void> {
  const { oid, size } = parseOidSize(segs[0], segs[1]);
  const chunk = Number(segs[2]);
  checkSignature(ctx, r, `complete:${oid}:${size}:${chunk}`);
  const body = await readJson(r.req);
  if (body.oid !== undefined && body.oid !== oid) throw new HttpError(400, `completion body names oid ${String(body.oid)}, the URL ${oid}`);
  const parts = Math.ceil(size / chunk);
  if (Array.isArray(body.parts) && body.parts.length !== parts)
    throw new HttpError(400, `completion lists ${body.parts.length} parts, expected ${parts}`);
  if ((await ctx.store.objectSize(oid)) !== size) await storeOrReject(r, () => ctx.store.completeParts(oid, size, parts));
  sendJson(r.res, 200, {}, {}, false, LFS_JSON);
}

/** `POST /_lfs/verify/{oid}/{size}?sig=` (huggingface_hub calls it after each upload). */
export async function handleLfsVerify(ctx: HubContext, r: HubRequest, segs: string[]): Promise<void> {
  const { oid, size } = parseOidSize(segs[0], segs[1]);
  checkSignature(ctx, r, `verify:${oid}:${size}`);
  await drain(r.req);
  if ((await ctx.store.objectSize(oid)) !== size) throw new HttpError(404, `LFS object ${oid} (${size} bytes) is not stored`);
  sendJson(r.res, 200, {}, {}, false, LFS_JSON);
}
