/**
 * `az://container/prefix/` through @azure/storage-blob. Credentials, first match wins:
 * `AZURE_STORAGE_CONNECTION_STRING`; `AZURE_STORAGE_ACCOUNT` + `AZURE_STORAGE_KEY`; or
 * `AZURE_STORAGE_SAS_TOKEN` (with `AZURE_STORAGE_ACCOUNT` or `AZURE_STORAGE_BLOB_ENDPOINT`).
 * `AZURE_STORAGE_BLOB_ENDPOINT` overrides `https://{account}.blob.core.windows.net`.
 */
import { InputError } from '../errors.ts';
import { AzureLocation, azureError } from '../remote/azure.ts';
import type { Env } from '../remote/azure.ts';
import { overLimit } from '../limits.ts';
import type { SourceOptions } from './open.ts';
import { checkRelative } from './s3.ts';
import type { ByteRange, Source, SourceEntry } from './types.ts';
import { byPath } from '../util/compare.ts';

// The location and client live in src/remote/azure.ts (the Azure sink shares them); re-exported for callers of the source.
export { AzureLocation, azureError, blobServiceFor, parseAzUrl } from '../remote/azure.ts';
export type { Env } from '../remote/azure.ts';

/** Node readable body of a download, as plain Uint8Array chunks. */
async function* chunksOf(body: NodeJS.ReadableStream | undefined): AsyncIterable<Uint8Array> {
  if (!body) return;
  for await (const c of body as AsyncIterable<Buffer>) yield new Uint8Array(c.buffer, c.byteOffset, c.byteLength);
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
    out.sort(byPath);
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
