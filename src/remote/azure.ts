/**
 * An `az://container/prefix/` location and its client, shared by the Azure source and sink.
 * Credentials, first match wins: `AZURE_STORAGE_CONNECTION_STRING`; `AZURE_STORAGE_ACCOUNT` +
 * `AZURE_STORAGE_KEY`; or `AZURE_STORAGE_SAS_TOKEN` (with `AZURE_STORAGE_ACCOUNT` or
 * `AZURE_STORAGE_BLOB_ENDPOINT`). `AZURE_STORAGE_BLOB_ENDPOINT` overrides
 * `https://{account}.blob.core.windows.net`.
 */
import { AnonymousCredential, BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import { InputError, UsageError } from '../errors.ts';

export type Env = Record<string, string | undefined>;

/** `az://container/prefix/` → container and blob-name prefix (empty, or ending in `/`). */
export function parseAzUrl(url: string): { container: string; prefix: string } {
  const m = /^az:\/\/([^/?#]+)\/?(.*)$/i.exec(url);
  if (!m?.[1]) throw new UsageError(`"${url}" is not an az:// URL: expected az://container/prefix/`);
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
  const endpoint = (env.AZURE_STORAGE_BLOB_ENDPOINT || (account ? `https://${account}.blob.core.windows.net` : '')).replace(/\/+$/, '');
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
