/**
 * Outputs under `s3://bucket/prefix/`. Each file is one @aws-sdk/lib-storage multipart upload fed
 * from a bounded stream: S3 shows the object only after CompleteMultipartUpload (or the single
 * PutObject of a small file), so a killed run leaves no object under a final key, only an
 * incomplete upload that `abort()` (or a bucket lifecycle rule) removes.
 */
import { createHash } from 'node:crypto';
import { ChunkHasher } from './hasher.ts';
import { PassThrough } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { DeleteObjectsCommandOutput, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { S3Location, s3Error } from '../remote/s3.ts';
import type { Env } from '../remote/s3.ts';
import {
  LOCK_NAME,
  MAX_LOCK_BYTES,
  OutputBusyError,
  busyMessage,
  cleanupOnInterrupt,
  decodeHolder,
  encodeHolder,
  holderIsGone,
  lostMessage,
  newHolder,
  takeOverNote,
} from './lock.ts';
import { NusomiError } from '../errors.ts';
import type { LockHolder, OutputLock } from './lock.ts';
import type { ObjectStoreSink, OutputFile } from './types.ts';

/** Part size: S3's minimum is 5 MiB; 8 MiB keeps 10,000 parts ≥ 78 GiB per file. */
const PART_BYTES = 8 * 1024 * 1024;
/** Parts uploading at once; memory is about (QUEUE + 1) × PART_BYTES per open file. */
const QUEUE = 2;

/** S3's DeleteObjects takes at most this many keys per call. */
const DELETE_BATCH = 1000;

/** An SDK error's name and HTTP status, for telling a lost condition from a failure. */
function failure(err: unknown): { name: string; status: number | undefined } {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return { name: e.name ?? '', status: e.$metadata?.httpStatusCode };
}

export class S3Sink extends S3Location implements ObjectStoreSink {
  async create(p: string): Promise<OutputFile> {
    return new S3OutputFile(p, this.describe(p), this.client, this.bucket, this.prefix + p, this.env);
  }

  async writeFile(p: string, bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
    // One PutObject is atomic: the object appears whole or not at all.
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + p, Body: bytes }));
    } catch (err) {
      throw s3Error(err, this.describe(p), this.env);
    }
    return { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  }

  /**
   * The lock is the object `<prefix>.nusomi-lock`, created only if absent (PutObject with
   * `If-None-Match: *`, which S3 answers with 412 when it exists) and read back to be sure this
   * run's record is the one stored. A lock whose holder is gone is deleted with `If-Match` on the
   * ETag that was judged stale, so two runs cannot both take it over.
   */
  async lock(): Promise<OutputLock> {
    const key = this.prefix + LOCK_NAME;
    const name = this.describe(LOCK_NAME);
    const me = newHolder();
    // Interrupted while taking it: the lock may already be this run's; then it goes.
    const undo = cleanupOnInterrupt(async () => {
      const stored = await this.readLock(key, name);
      if (stored?.holder?.token === me.token)
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: stored.etag }));
    });
    try {
      return await this.takeLock(key, name, me);
    } finally {
      undo();
    }
  }

  private async takeLock(key: string, name: string, me: LockHolder): Promise<OutputLock> {
    const how = `delete ${name} if no convert is running`;
    let tookOver: string | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const put = await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: encodeHolder(me), IfNoneMatch: '*' }),
        );
        const stored = await this.readLock(key, name);
        if (stored?.holder?.token !== me.token) throw new OutputBusyError(busyMessage(this.root, stored?.holder, how));
        return this.heldLock(key, name, put.ETag ?? stored.etag, tookOver, me);
      } catch (err) {
        if (err instanceof OutputBusyError) throw err;
        const f = failure(err);
        // 412: it exists; 409 ConditionalRequestConflict: another conditional write raced this one.
        if (f.status !== 412 && f.status !== 409) throw s3Error(err, name, this.env);
      }
      const seen = await this.readLock(key, name);
      if (!seen) continue;
      if (!seen.holder || !holderIsGone(seen.holder)) throw new OutputBusyError(busyMessage(this.root, seen.holder, how));
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: seen.etag }));
      } catch (err) {
        if (failure(err).status === 412) continue; // replaced since: judge the new one
        throw s3Error(err, name, this.env);
      }
      tookOver = takeOverNote(this.root, seen.holder);
    }
    throw new OutputBusyError(busyMessage(this.root, undefined, how));
  }

  private async readLock(key: string, name: string): Promise<{ holder: LockHolder | undefined; etag: string | undefined } | undefined> {
    try {
      // A record is small: a larger object is read only as far as it takes to see it is not one.
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${MAX_LOCK_BYTES}` }));
      const bytes = await r.Body!.transformToByteArray();
      return { holder: decodeHolder(bytes), etag: r.ETag };
    } catch (err) {
      if (failure(err).name === 'NoSuchKey' || failure(err).status === 404) return undefined;
      // 416: the range starts past the end of an empty object, which is no record either.
      if (failure(err).status === 416) return { holder: undefined, etag: undefined };
      throw s3Error(err, name, this.env);
    }
  }

  private heldLock(key: string, name: string, etag: string | undefined, tookOver: string | undefined, me: LockHolder): OutputLock {
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      unregister();
      try {
        // Only this run's lock: a lock taken over meanwhile has another ETag and stays.
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: etag }));
      } catch (err) {
        if (failure(err).status !== 412 && failure(err).status !== 404) throw s3Error(err, name, this.env);
      }
    };
    const unregister = cleanupOnInterrupt(release);
    const check = async (): Promise<void> => {
      const now = await this.readLock(key, name);
      if (now?.holder?.token !== me.token) throw new NusomiError(lostMessage(this.root, name, now?.holder), {}, 1);
    };
    return { tookOver, check, release };
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          const p = o.Key!.slice(this.prefix.length);
          if (p !== LOCK_NAME) out.push(p);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw s3Error(err, this.root, this.env);
    }
    return out.sort();
  }

  async remove(paths: string[]): Promise<void> {
    for (let i = 0; i < paths.length; i += DELETE_BATCH) {
      const batch = paths.slice(i, i + DELETE_BATCH);
      let errors: NonNullable<DeleteObjectsCommandOutput['Errors']>;
      try {
        const r = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((p) => ({ Key: this.prefix + p })), Quiet: true },
          }),
        );
        errors = r.Errors ?? [];
      } catch (err) {
        // Some S3-compatible stores (GCS's XML API) lack the batch call: delete one by one.
        if (failure(err).status !== 501 && failure(err).name !== 'NotImplemented') throw s3Error(err, this.root, this.env);
        for (const p of batch) {
          await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + p })).catch((e: unknown) => {
            throw s3Error(e, this.describe(p), this.env);
          });
        }
        continue;
      }
      if (errors.length) throw s3Error({ name: errors[0]!.Code }, `s3://${this.bucket}/${errors[0]!.Key ?? ''}`, this.env);
    }
  }

  /** Multipart uploads under the root that were never completed: a killed run's. Aborted. */
  async dropUnfinished(owned: (path: string) => boolean): Promise<string[]> {
    const dropped: string[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: this.prefix,
            KeyMarker: keyMarker,
            UploadIdMarker: idMarker,
          }),
        );
        for (const u of page.Uploads ?? []) {
          const p = u.Key!.slice(this.prefix.length);
          if (!owned(p)) continue;
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key!, UploadId: u.UploadId! }));
          dropped.push(p);
        }
        keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
        idMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
      } while (keyMarker);
    } catch (err) {
      throw s3Error(err, this.root, this.env);
    }
    return dropped;
  }
}

class S3OutputFile implements OutputFile {
  private readonly hasher = new ChunkHasher();
  private size = 0;
  private readonly body = new PassThrough();
  private readonly upload: Upload;
  private readonly done: Promise<unknown>;
  private failure?: Error;
  private finished = false;

  constructor(
    readonly path: string,
    private readonly name: string,
    client: S3Client,
    bucket: string,
    key: string,
    private readonly env: Env,
  ) {
    this.upload = new Upload({
      client,
      params: { Bucket: bucket, Key: key, Body: this.body },
      partSize: PART_BYTES,
      queueSize: QUEUE,
      leavePartsOnError: false, // on failure lib-storage sends AbortMultipartUpload
    });
    this.done = this.upload.done();
    // Remember a failure so a pending write() rejects instead of waiting for a drain that never comes.
    this.done.catch((err: unknown) => {
      this.failure = err as Error;
      this.body.emit('upload-failed');
    });
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw s3Error(this.failure, this.name, this.env);
    if (this.finished) throw new Error(`${this.name}: write after commit/abort`);
    if (chunk.byteLength === 0) return;
    this.hasher.update(chunk);
    this.size += chunk.byteLength;
    // Copy: the caller may reuse its buffer once write() resolves, but the part is still queued.
    if (!this.body.write(Buffer.from(chunk))) {
      await new Promise<void>((resolve) => {
        const go = () => {
          this.body.off('drain', go);
          this.body.off('upload-failed', go);
          resolve();
        };
        this.body.on('drain', go);
        this.body.on('upload-failed', go);
      });
      if (this.failure) throw s3Error(this.failure, this.name, this.env);
    }
  }

  async commit(): Promise<{ bytes: number; sha256: string }> {
    if (this.finished) throw new Error(`${this.name}: commit after commit/abort`);
    this.finished = true;
    const sha256 = this.hasher.digest();
    sha256.catch(() => {});
    this.body.end();
    try {
      await this.done;
    } catch (err) {
      throw s3Error(err, this.name, this.env);
    }
    return { bytes: this.size, sha256: await sha256 };
  }

  async abort(): Promise<void> {
    if (this.finished && !this.failure) {
      // Already committed (or aborted): nothing to undo.
      return;
    }
    this.finished = true;
    this.hasher.drop();
    // Failing the body makes lib-storage stop, wait for parts in flight, then AbortMultipartUpload;
    // done() settles only after that, so when abort() returns nothing is left pending.
    this.body.destroy(new Error('upload aborted'));
    await this.done.catch(() => {});
  }
}
