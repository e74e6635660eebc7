/**
 * HTTP plumbing of the local Hub server: the Hub's error contract (JSON `{error}` plus
 * `X-Error-Code`/`X-Error-Message`, which huggingface_hub classifies errors by), bodies, ranges.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type HubErrorCode = 'RepoNotFound' | 'RevisionNotFound' | 'EntryNotFound' | 'GatedRepo';

export class HttpError extends Error {
  readonly status: number;
  readonly code?: HubErrorCode;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, code?: HubErrorCode, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export const repoNotFound = (id: string): HttpError =>
  new HttpError(404, `Repository not found: ${id} does not exist, or it is private and no valid token was sent`, 'RepoNotFound');
export const revisionNotFound = (rev: string): HttpError => new HttpError(404, `Invalid rev id: ${rev}`, 'RevisionNotFound');
export const entryNotFound = (p: string, commit?: string): HttpError =>
  new HttpError(404, `Entry not found: ${p}`, 'EntryNotFound', commit ? { 'X-Repo-Commit': commit } : {});

export function sendError(res: ServerResponse, err: HttpError, head: boolean): void {
  const headers: Record<string, string> = { ...err.headers, 'X-Error-Message': headerSafe(err.message) };
  if (err.code) headers['X-Error-Code'] = err.code;
  sendJson(res, err.status, { error: err.message }, headers, head);
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  head = false,
  contentType = 'application/json; charset=utf-8',
): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': String(data.length) });
  res.end(head ? undefined : data);
}

function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 500);
}

/** Read a whole (small) body; refuses bodies above `limit` bytes. */
export async function readBody(req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of req) {
    n += (chunk as Uint8Array).length;
    if (n > limit) throw new HttpError(413, `request body is larger than ${limit} bytes`);
    chunks.push(chunk as Uint8Array);
  }
  return Buffer.concat(chunks);
}

export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = await readBody(req);
  if (body.length === 0) return {};
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'request body is not a JSON object');
  }
}

/** One `bytes=` range against a resource of `size` bytes; undefined for no/ignored Range. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // multi-range or malformed: serve whole
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Decode one path segment; a malformed escape is a 400, not a crash. */
export function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in path segment ${JSON.stringify(s)}`);
  }
}

/** Consume and discard what is left of a request body (before answering early). */
export async function drain(req: IncomingMessage): Promise<void> {
  // A stream a failed pipeline destroyed never ends: there is nothing left to drain.
  if (req.readableEnded || req.destroyed) return;
  req.resume();
  await new Promise<void>((resolve) => {
    req.on('end', resolve);
    req.on('close', resolve);
  });
}
