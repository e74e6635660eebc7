/**
 * Outputs under `s3://bucket/prefix/`. Each file is one @aws-sdk/lib-storage multipart upload fed
 * from a bounded stream: S3 shows the object only after CompleteMultipartUpload (or the single
 * PutObject of a small file), so a killed run leaves no object under a final key, only an
 * incomplete upload that `abort()` (or a bucket lifecycle rule) removes.
 */
import { createHash } from 'node:crypto';
import { ChunkHasher } from './hasher.ts';
import { PassThrough } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { S3Location, s3Error } from '../remote/s3.ts';
import type { Env } from '../remote/s3.ts';
import type { OutputFile, Sink } from './types.ts';

/** Part size: S3's minimum is 5 MiB; 8 MiB keeps 10,000 parts ≥ 78 GiB per file. */
const PART_BYTES = 8 * 1024 * 1024;
/** Parts uploading at once; memory is about (QUEUE + 1) × PART_BYTES per open file. */
const QUEUE = 2;

export class S3Sink extends S3Location implements Sink {

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
