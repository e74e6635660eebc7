/**
 * Outputs under `az://container/prefix/`. Each file is a block blob built with stageBlock and made
 * visible by one commitBlockList: staged blocks are invisible (Azure drops uncommitted blocks after
 * a week), so a killed run leaves no blob under a final name. The next run discards them
 * (`dropUnfinished`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { ChunkHasher } from './hasher.ts';
import type { BlockBlobClient } from '@azure/storage-blob';
import { AzureLocation, azureError } from '../remote/azure.ts';
import { LOCK_NAME, OutputBusyError, busyMessage, cleanupOnInterrupt, holderIsGone, lostMessage, newHolder, takeOverNote } from './lock.ts';
import type { LockHolder, OutputLock } from './lock.ts';
import { NusomiError } from '../errors.ts';
import { writeThrough } from './types.ts';
import type { ObjectStoreSink, OutputFile } from './types.ts';

/** Block size; Azure allows 50,000 blocks per blob, so 8 MiB blocks reach 390 GiB. */
const BLOCK_BYTES = 8 * 1024 * 1024;
/** Blocks uploading at once; memory is about (IN_FLIGHT + 1) × BLOCK_BYTES per open file. */
const IN_FLIGHT = 2;
/** The lock's lease: renewed while the run lives, so a killed run's lease lapses within this time. */
const LEASE_SECONDS = 60;
const RENEW_MS = 15_000;
/** Deletes sent at once when removing stale blobs. */
const DELETE_CONCURRENCY = 8;

/** A storage error's status and code, for telling an expected conflict from a failure. */
function failure(err: unknown): { status: number | undefined; code: string } {
  const e = err as { statusCode?: number; code?: string };
  return { status: e.statusCode, code: e.code ?? '' };
}

function holderMetadata(h: LockHolder): Record<string, string> {
  return { pid: String(h.pid), host: h.host, since: h.since, token: h.token, ...(h.start !== undefined ? { start: h.start } : {}) };
}

function holderOf(meta: Record<string, string> | undefined): LockHolder | undefined {
  const pid = Number(meta?.pid);
  if (!meta || !Number.isSafeInteger(pid) || !meta.host || !meta.token) return undefined;
  const h: LockHolder = { pid, host: meta.host, since: meta.since ?? '?', token: meta.token };
  if (meta.start) h.start = meta.start;
  return h;
}

export class AzureSink extends AzureLocation implements ObjectStoreSink {
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

  /**
   * The lock is a lease on the blob `<prefix>.nusomi-lock` (holder in its metadata), renewed every
   * 15 s: a run killed without releasing it loses it within a minute, and one on this host whose
   * process is gone is broken at once (the break is conditional on the ETag judged stale).
   */
  async lock(): Promise<OutputLock> {
    const blob = this.container.getBlockBlobClient(this.prefix + LOCK_NAME);
    const taking: { lease?: ReturnType<BlockBlobClient['getBlobLeaseClient']> } = {};
    // Interrupted while taking it: a lease already acquired goes with its blob.
    const undo = cleanupOnInterrupt(async () => {
      if (taking.lease) await blob.delete({ conditions: { leaseId: taking.lease.leaseId } });
    });
    try {
      return await this.takeLease(blob, taking);
    } finally {
      undo();
    }
  }

  private async takeLease(
    blob: BlockBlobClient,
    taking: { lease?: ReturnType<BlockBlobClient['getBlobLeaseClient']> },
  ): Promise<OutputLock> {
    const name = this.describe(LOCK_NAME);
    const how = `its lease lapses within ${LEASE_SECONDS} s after that run ends`;
    const me = newHolder();
    let tookOver: string | undefined;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        await blob.upload(Buffer.alloc(0), 0, { conditions: { ifNoneMatch: '*' } });
      } catch (err) {
        // 409 BlobAlreadyExists, or 412 when it is leased: either way it is there.
        const f = failure(err);
        if (f.status !== 409 && f.status !== 412) throw azureError(err, name);
      }
      const lease = blob.getBlobLeaseClient();
      try {
        await lease.acquireLease(LEASE_SECONDS);
      } catch (err) {
        const f = failure(err);
        if (f.status === 404) continue; // released and deleted meanwhile
        if (f.status !== 409) throw azureError(err, name);
        const props = await blob.getProperties().catch((e: unknown) => {
          if (failure(e).status === 404) return undefined;
          throw azureError(e, name);
        });
        if (!props) continue;
        let holder = holderOf(props.metadata);
        // The holder writes its metadata just after it takes the lease: read again for a moment.
        for (let i = 0; !holder && i < 5; i++) {
          await new Promise((r) => setTimeout(r, 200));
          holder = holderOf((await blob.getProperties().catch(() => undefined))?.metadata);
        }
        if (!holder || !holderIsGone(holder)) throw new OutputBusyError(busyMessage(this.root, holder, how));
        try {
          await blob.getBlobLeaseClient().breakLease(0, { conditions: { ifMatch: props.etag } });
        } catch (e) {
          if (failure(e).status !== 412) throw azureError(e, name);
        }
        tookOver = takeOverNote(this.root, holder);
        continue;
      }
      taking.lease = lease;
      try {
        await blob.setMetadata(holderMetadata(me), { conditions: { leaseId: lease.leaseId } });
      } catch (err) {
        // Another run broke the lease between acquire and this write.
        if (failure(err).status === 412 || failure(err).status === 409) throw new OutputBusyError(busyMessage(this.root, undefined, how));
        throw azureError(err, name);
      }
      return this.heldLease(blob, lease, name, tookOver);
    }
    throw new OutputBusyError(busyMessage(this.root, undefined, how));
  }

  private heldLease(
    blob: BlockBlobClient,
    lease: ReturnType<BlockBlobClient['getBlobLeaseClient']>,
    name: string,
    tookOver: string | undefined,
  ): OutputLock {
    let lost = false;
    let renewedAt = Date.now();
    let released = false;
    const renew = async (): Promise<void> => {
      try {
        await lease.renewLease();
        renewedAt = Date.now();
      } catch (err) {
        // 409/412: the lease was broken or another run holds it now; 404: the lock blob is gone. Any
        // other failure (network) is retried at the next tick while the lease still runs.
        const f = failure(err);
        if (f.status === 409 || f.status === 412 || f.status === 404) lost = true;
      }
    };
    const timer = setInterval(() => void renew(), RENEW_MS);
    timer.unref();
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      clearInterval(timer);
      unregister();
      try {
        // Deleting with the lease id ends the lease with the blob.
        await blob.delete({ conditions: { leaseId: lease.leaseId } });
      } catch (err) {
        const f = failure(err);
        if (f.status !== 404 && f.status !== 412 && f.status !== 409) throw azureError(err, name);
      }
    };
    const unregister = cleanupOnInterrupt(release);
    return {
      tookOver,
      // Renewed here too: a break between two ticks is seen before the old dataset is replaced.
      check: async () => {
        if (!lost) await renew();
        if (lost || Date.now() - renewedAt >= LEASE_SECONDS * 1000) {
          const now = holderOf((await blob.getProperties().catch(() => undefined))?.metadata);
          throw new NusomiError(lostMessage(this.root, name, now), {}, 1);
        }
      },
      release,
    };
  }

  async list(): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const b of this.container.listBlobsFlat({ prefix: this.prefix })) {
        const p = b.name.slice(this.prefix.length);
        if (p !== LOCK_NAME) out.push(p);
      }
    } catch (err) {
      throw azureError(err, this.root);
    }
    return out.sort();
  }

  async remove(paths: string[]): Promise<void> {
    const queue = [...paths];
    const worker = async (): Promise<void> => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
        try {
          // A blob with snapshots cannot be deleted alone (409 SnapshotsPresent); a stale shard goes with them.
          await this.container.getBlockBlobClient(this.prefix + p).delete({ deleteSnapshots: 'include' });
        } catch (err) {
          if (failure(err).status !== 404) throw azureError(err, this.describe(p));
        }
      }
    };
    await Promise.all(Array.from({ length: DELETE_CONCURRENCY }, worker));
  }

  /**
   * Blobs that hold only uncommitted blocks (a killed run's staged file) are listed only with
   * `include=uncommittedblobs`. Deleting the blob discards them; where the service answers 404 to
   * that (the blob has no committed version), a Put Blob of 0 bytes, which replaces the blob and
   * discards its uncommitted blocks, then a delete does it. Blocks staged beside a committed blob
   * go when that blob is re-committed or removed as stale.
   */
  async dropUnfinished(owned: (path: string) => boolean): Promise<string[]> {
    const committed = new Set<string>();
    const dropped: string[] = [];
    try {
      for await (const b of this.container.listBlobsFlat({ prefix: this.prefix })) committed.add(b.name);
      for await (const b of this.container.listBlobsFlat({ prefix: this.prefix, includeUncommitedBlobs: true })) {
        const p = b.name.slice(this.prefix.length);
        if (committed.has(b.name) || p === LOCK_NAME || !owned(p)) continue;
        const blob = this.container.getBlockBlobClient(b.name);
        try {
          await blob.delete();
        } catch (err) {
          if (failure(err).status !== 404) throw err;
          await blob.upload(Buffer.alloc(0), 0);
          await blob.delete();
        }
        dropped.push(p);
      }
    } catch (err) {
      throw azureError(err, this.root);
    }
    return dropped;
  }
}

/**
 * Block ids must have one length per blob. Each upload has its own random part, so blocks staged
 * for the same blob by another upload (a killed or concurrent run) never join this one's list.
 * The ids are not part of the blob's bytes, which stay deterministic.
 */
function blockId(upload: string, i: number): string {
  return Buffer.from(`${upload}-${String(i).padStart(8, '0')}`).toString('base64');
}

class AzureOutputFile implements OutputFile {
  private readonly hasher = new ChunkHasher();
  private size = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly ids: string[] = [];
  private readonly upload = randomBytes(6).toString('hex');
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
    const id = blockId(this.upload, this.ids.length);
    this.ids.push(id);
    const p: Promise<void> = this.blob.stageBlock(id, data, data.byteLength).then(
      () => {
        this.inFlight.delete(p);
      },
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
