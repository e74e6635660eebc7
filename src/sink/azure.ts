/**
 * Outputs under `az://container/prefix/`. Each file is a block blob built with stageBlock and made
 * visible by one commitBlockList: staged blocks are invisible (Azure drops uncommitted blocks after
 * a week), so a killed run leaves no blob under a final name.
 */
import { createHash } from 'node:crypto';
import { ChunkHasher } from './hasher.ts';
import type { BlockBlobClient } from '@azure/storage-blob';
import { AzureLocation, azureError } from '../remote/azure.ts';
import { writeThrough } from './types.ts';
import type { OutputFile, Sink } from './types.ts';

/** Block size; Azure allows 50,000 blocks per blob, so 8 MiB blocks reach 390 GiB. */
const BLOCK_BYTES = 8 * 1024 * 1024;
/** Blocks uploading at once; memory is about (IN_FLIGHT + 1) × BLOCK_BYTES per open file. */
const IN_FLIGHT = 2;

export class AzureSink extends AzureLocation implements Sink {

  async create(p: string): Promise<OutputFile> {
    return new AzureOutputFile(p, this.describe(p), this.container.getBlockBlobClient(this.prefix + p));
  }

  async writeFile(p: string, bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
    if (bytes.byteLength > BLOCK_BYTES) return writeThrough(this, p, bytes);
    // One Put Blob is atomic for a small file.
    try {
      await this.container.getBlockBlobClient(this.prefix + p).upload(bytes, bytes.byteLength);
    } catch (err) {
      throw azureError(err, this.describe(p));
    }
    return { bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
}

/** Block ids must have one length per blob; a fixed-width counter also keeps them deterministic. */
function blockId(i: number): string {
  return Buffer.from(`block-${String(i).padStart(8, '0')}`).toString('base64');
}

class AzureOutputFile implements OutputFile {
  private readonly hasher = new ChunkHasher();
  private size = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly ids: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private failure?: unknown;
  private finished = false;

  constructor(
    readonly path: string,
    private readonly name: string,
    private readonly blob: BlockBlobClient,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (this.finished) throw new Error(`${this.name}: write after commit/abort`);
    this.check();
    this.hasher.update(chunk);
    this.size += chunk.byteLength;
    let off = 0;
    while (off < chunk.byteLength) {
      const take = Math.min(BLOCK_BYTES - this.pendingBytes, chunk.byteLength - off);
      // Copy: the caller may reuse its buffer once write() resolves.
      this.pending.push(Buffer.from(chunk.subarray(off, off + take)));
      this.pendingBytes += take;
      off += take;
      if (this.pendingBytes === BLOCK_BYTES) await this.stageFull();
    }
  }

  /** Stage the pending bytes as the next block, waiting while IN_FLIGHT blocks are uploading. */
  private async stageFull(): Promise<void> {
    while (this.inFlight.size >= IN_FLIGHT) await Promise.race(this.inFlight);
    this.check();
    const data = Buffer.concat(this.pending as unknown as Uint8Array[], this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    const id = blockId(this.ids.length);
    this.ids.push(id);
    const p: Promise<void> = this.blob.stageBlock(id, data, data.byteLength).then(
      () => { this.inFlight.delete(p); },
      (err: unknown) => {
        this.inFlight.delete(p);
        this.failure ??= err;
      },
    );
    this.inFlight.add(p);
  }

  private check(): void {
    if (this.failure) throw azureError(this.failure, this.name);
  }

  async commit(): Promise<{ bytes: number; sha256: string }> {
    if (this.finished) throw new Error(`${this.name}: commit after commit/abort`);
    if (this.pendingBytes > 0) await this.stageFull();
    await Promise.all(this.inFlight);
    this.check();
    this.finished = true;
    const sha256 = this.hasher.digest();
    sha256.catch(() => {});
    try {
      await this.blob.commitBlockList(this.ids);
    } catch (err) {
      throw azureError(err, this.name);
    }
    return { bytes: this.size, sha256: await sha256 };
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.hasher.drop();
    this.pending = [];
    // Uncommitted blocks are invisible and expire; just let the uploads in flight settle.
    await Promise.allSettled(this.inFlight);
  }
}
