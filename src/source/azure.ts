/**
 * `az://container/prefix/` through @azure/storage-blob. Credentials, first match wins:
 * `AZURE_STORAGE_CONNECTION_STRING`; `AZURE_STORAGE_ACCOUNT` + `AZURE_STORAGE_KEY`; or
 * `AZURE_STORAGE_SAS_TOKEN` (with `AZURE_STORAGE_ACCOUNT` or `AZURE_STORAGE_BLOB_ENDPOINT`).
 * `AZURE_STORAGE_BLOB_ENDPOINT` overrides `https://{account}.blob.core.windows.net`.
 */
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import { InputError, UsageError } from '../errors.ts';
import { overLimit } from '../limits.ts';
import type { SourceOptions } from './open.ts';
import { checkRelative } from './s3.ts';
import type { ByteRange, Source, SourceEntry } from './types.ts';

export type Env = Record<string, string | undefined>;

/** `az://container/prefix/` → container and blob-name prefix (empty, or ending in `/`). */
export function parseAzUrl(url: string): { container: string; prefix: string } {
  const m = /^az:\/\/([^/?#]+)\/?(.*)$/i.exec(url);
  if (!m || !m[1]) throw new UsageError(`"${url}" is not an az:// URL: expected az://container/prefix/`);
  let prefix = m[2] ?? '';
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  return { container: m[1], prefix };
}

// Fail within seconds when the endpoint is unreachable, instead of the SDK's minute-long default.
const pipelineOptions: StoragePipelineOptions = {
  retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000 },
};

const services = new Map<string, BlobServiceClient>();

/** The blob service for the Azure variables in `env` (cached per configuration). */
export function blobServiceFor(env: Env = process.env): BlobServiceClient {
  const conn = env.AZURE_STORAGE_CONNECTION_STRING;
  const account = env.AZURE_STORAGE_ACCOUNT;
  const key = env.AZURE_STORAGE_KEY;
  const sas = env.AZURE_STORAGE_SAS_TOKEN?.replace(/^\?/, '');
  const endpoint = (env.AZURE_STORAGE_BLOB_ENDPOINT || (account ? `https://${account}.blob.core.windows.net` : ''))
    .replace(/\/+$/, '');
  const cacheKey = JSON.stringify([conn, account, key, sas, endpoint]);
  let svc = services.get(cacheKey);
  if (svc) return svc;
  if (conn) {
    try {
      svc = BlobServiceClient.fromConnectionString(conn, pipelineOptions);
    } catch {
      // The SDK's message would echo the connection string, which holds the account key.
      throw new UsageError('AZURE_STORAGE_CONNECTION_STRING is not a valid Azure Storage connection string');
    }
  } else if (account && key) {
    svc = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(account, key), pipelineOptions);
  } else if (sas && endpoint) {
    svc = new BlobServiceClient(`${endpoint}?${sas}`, new AnonymousCredential(), pipelineOptions);
  } else {
    throw new UsageError(
      'no Azure credentials: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY ' +
        'or AZURE_STORAGE_SAS_TOKEN (AZURE_STORAGE_BLOB_ENDPOINT for a non-default endpoint)',
    );
  }
  services.set(cacheKey, svc);
  return svc;
}

/** An SDK failure as an InputError naming the blob; never the key, SAS or request URL. */
export function azureError(err: unknown, what: string): Error {
  if (err instanceof InputError || err instanceof UsageError) return err;
  const e = err as { name?: string; code?: string; statusCode?: number };
  const code = e.code ?? '';
  if (code === 'ContainerNotFound') return new InputError('container not found', { file: what });
  if (code === 'BlobNotFound' || e.statusCode === 404) return new InputError('not found', { file: what });
  if (e.statusCode === 403 || code === 'AuthenticationFailed' || code.startsWith('Authorization')) {
    return new InputError(`access denied (${code || 'HTTP 403'}): check the Azure storage key or SAS token`, { file: what });
  }
  if (/^E[A-Z]+$/.test(code)) return new InputError(`cannot reach the Azure blob endpoint (${code})`, { file: what });
  if (e.name === 'AbortError') return new InputError('Azure request aborted', { file: what });
  return new InputError(`Azure request failed (${code || e.name || 'error'}${e.statusCode ? `, HTTP ${e.statusCode}` : ''})`, {
    file: what,
  });
}

/** Node readable body of a download, as plain Uint8Array chunks. */
async function* chunksOf(body: NodeJS.ReadableStream | undefined): AsyncIterable<Uint8Array> {
  if (!body) return;
  for await (const c of body as AsyncIterable<Buffer>) yield new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
}

/** Where `az://container/prefix/` points, with a client for it: what the Azure source and sink share. */
export class AzureLocation {
  readonly root: string;
  protected readonly containerName: string;
  protected readonly prefix: string;
  protected readonly container: ContainerClient;

  constructor(root: string, env: Env = process.env) {
    this.root = root;
    ({ container: this.containerName, prefix: this.prefix } = parseAzUrl(root));
    this.container = blobServiceFor(env).getContainerClient(this.containerName);
  }

  describe(p: string): string {
    return `az://${this.containerName}/${this.prefix}${p}`;
  }
}

export class AzureSource extends AzureLocation implements Source {
  private readonly maxReadBytes?: number;

  constructor(root: string, env: Env = process.env, opts: SourceOptions = {}) {
    super(root, env);
    this.maxReadBytes = opts.maxReadBytes;
  }

  private blob(p: string) {
    checkRelative(p, this.root);
    return this.container.getBlobClient(this.prefix + p);
  }

  async list(keep?: (path: string) => boolean): Promise<SourceEntry[]> {
    const out: SourceEntry[] = [];
    try {
      for await (const page of this.container.listBlobsFlat({ prefix: this.prefix }).byPage({ maxPageSize: 5000 })) {
        for (const b of page.segment.blobItems) {
          if (b.name.endsWith('/')) continue;
          out.push({ path: b.name.slice(this.prefix.length), size: b.properties.contentLength ?? 0 });
        }
      }
    } catch (err) {
      throw azureError(err, this.root);
    }
    out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return keep ? out.filter((e) => keep(e.path)) : out;
  }

  async exists(p: string): Promise<boolean> {
    try {
      await this.blob(p).getProperties();
      return true;
    } catch (err) {
      const e = err as { statusCode?: number; code?: string };
      if (e.statusCode === 404 && e.code !== 'ContainerNotFound') return false;
      throw azureError(err, this.describe(p));
    }
  }

  async size(p: string): Promise<number> {
    try {
      return (await this.blob(p).getProperties()).contentLength ?? 0;
    } catch (err) {
      throw azureError(err, this.describe(p));
    }
  }

  async read(p: string, range?: ByteRange): Promise<Uint8Array> {
    // download(offset, 0) would mean "to the end", so an empty range is answered here.
    if (range && range.end <= range.start) {
      if (!(await this.exists(p))) throw new InputError('not found', { file: this.describe(p) });
      return new Uint8Array(0);
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    try {
      const res = await this.blob(p).download(range?.start ?? 0, range ? range.end - range.start : undefined);
      // A whole-blob read is refused before its body is buffered when it is over the limit.
      if (!range && this.maxReadBytes !== undefined && (res.contentLength ?? 0) > this.maxReadBytes) {
        (res.readableStreamBody as unknown as { destroy?: () => void } | undefined)?.destroy?.();
        throw new InputError(`${res.contentLength} bytes, ${overLimit('maxMemberBytes', this.maxReadBytes)}`, { file: this.describe(p) });
      }
      for await (const c of chunksOf(res.readableStreamBody)) {
        parts.push(c);
        total += c.byteLength;
      }
    } catch (err) {
      // A range that starts past the end reads as empty, as on a local file.
      if ((err as { statusCode?: number }).statusCode === 416) return new Uint8Array(0);
      throw azureError(err, this.describe(p));
    }
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of parts) {
      out.set(c, off);
      off += c.byteLength;
    }
    return out;
  }

  async *stream(p: string): AsyncIterable<Uint8Array> {
    let body: NodeJS.ReadableStream | undefined;
    try {
      body = (await this.blob(p).download(0)).readableStreamBody;
    } catch (err) {
      throw azureError(err, this.describe(p));
    }
    try {
      // Iterating the Node stream pulls from the socket: backpressure is TCP's.
      yield* chunksOf(body);
    } catch (err) {
      throw azureError(err, this.describe(p));
    }
  }
}
