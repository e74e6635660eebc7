/**
 * `s3://bucket/prefix/` through @aws-sdk/client-s3. Configuration comes from the usual AWS
 * environment variables; with a custom endpoint (`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`) the
 * client uses path-style addressing, which also serves GCS's S3-compatible endpoint and emulators.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { InputError } from '../errors.ts';
import { S3Location, s3Error } from '../remote/s3.ts';
import type { Env } from '../remote/s3.ts';
import { overLimit } from '../limits.ts';
import type { SourceOptions } from './open.ts';
import type { ByteRange, Source, SourceEntry } from './types.ts';
import { byPath } from '../util/compare.ts';

// The location and client live in src/remote/s3.ts (the S3 sink shares them); re-exported for callers of the source.
export { parseS3Url, s3ClientFor, s3Endpoint, s3Error, S3Location } from '../remote/s3.ts';
export type { Env } from '../remote/s3.ts';

/**
 * Refuses a relative path that would leave the root once a server normalises it (`a/../../x`,
 * `/x`): object keys are plain strings, but a hostile manifest must not reach other prefixes.
 */
export function checkRelative(p: string, root: string): void {
  if (p.startsWith('/') || p.split('/').some((s) => s === '..' || s === '.')) {
    throw new InputError(`path escapes the export root ${root}`, { file: p });
  }
}

export class S3Source extends S3Location implements Source {
  private readonly maxReadBytes?: number;

  constructor(root: string, env: Env = process.env, opts: SourceOptions = {}) {
    super(root, env);
    this.maxReadBytes = opts.maxReadBytes;
  }

  private key(p: string): string {
    checkRelative(p, this.root);
    return this.prefix + p;
  }

  async list(keep?: (path: string) => boolean): Promise<SourceEntry[]> {
    const out: SourceEntry[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          if (!o.Key || o.Key.endsWith('/')) continue; // folder markers made by consoles
          out.push({ path: o.Key.slice(this.prefix.length), size: o.Size ?? 0 });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw s3Error(err, this.root, this.env);
    }
    // S3 lists in UTF-8 byte order; the contract is code-unit order.
    out.sort(byPath);
    return keep ? out.filter((e) => keep(e.path)) : out;
  }

  async exists(p: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(p) }));
      return true;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return false;
      throw s3Error(err, this.describe(p), this.env);
    }
  }

  async size(p: string): Promise<number> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(p) }));
      return head.ContentLength ?? 0;
    } catch (err) {
      throw s3Error(err, this.describe(p), this.env);
    }
  }

  async read(p: string, range?: ByteRange): Promise<Uint8Array> {
    if (range && range.end <= range.start) {
      // An empty range has no HTTP form; still report a missing file.
      if (!(await this.exists(p))) throw new InputError('not found', { file: this.describe(p) });
      return new Uint8Array(0);
    }
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.key(p),
          Range: range ? `bytes=${range.start}-${range.end - 1}` : undefined,
        }),
      );
      // A whole-object read is refused before its body is buffered when it is over the limit.
      if (!range && this.maxReadBytes !== undefined && (res.ContentLength ?? 0) > this.maxReadBytes) {
        (res.Body as unknown as { destroy?: () => void }).destroy?.();
        throw new InputError(`${res.ContentLength} bytes, ${overLimit('maxMemberBytes', this.maxReadBytes)}`, { file: this.describe(p) });
      }
      const bytes = await res.Body!.transformToByteArray();
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    } catch (err) {
      // A range that starts past the end reads as empty, as on a local file.
      if ((err as { name?: string }).name === 'InvalidRange') return new Uint8Array(0);
      throw s3Error(err, this.describe(p), this.env);
    }
  }

  async *stream(p: string): AsyncIterable<Uint8Array> {
    let body: AsyncIterable<Buffer>;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(p) }));
      body = res.Body as unknown as AsyncIterable<Buffer>;
    } catch (err) {
      throw s3Error(err, this.describe(p), this.env);
    }
    try {
      // The body is a Node stream: iterating pulls from the socket, so backpressure is TCP's.
      for await (const b of body) yield new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (err) {
      throw s3Error(err, this.describe(p), this.env);
    }
  }
}
