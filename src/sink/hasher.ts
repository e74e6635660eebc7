/**
 * sha256 of sink output off the main thread. Hashing 3 GB of shards costs ~3 s of CPU; on the main
 * thread that time is added to every convert, in a worker it overlaps encoding.
 *
 * One shared worker (plain JavaScript evaluated from a string, so it runs the same under tsx,
 * vitest and plain node) serves every open file. Two ways to feed it:
 *  - `FileHasher` (local sink): the worker reads the bytes back from the file as they are written
 *    (page cache), so the main thread neither copies nor keeps them;
 *  - `ChunkHasher` (remote sinks): each chunk is copied once into a transferred buffer.
 * Messages to one worker are handled in order, so a digest request sees every earlier update.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const jobs = new Map();
let buf = null;
parentPort.on('message', (m) => {
  let job = jobs.get(m.id);
  try {
    if (m.op === 'open') {
      jobs.set(m.id, { hash: createHash('sha256'), fd: m.path === undefined ? -1 : fs.openSync(m.path, 'r'), pos: 0, error: null });
    } else if (!job) {
      return;
    } else if (job.error) {
      if (m.op === 'digest') { jobs.delete(m.id); parentPort.postMessage({ id: m.id, error: job.error }); }
      else if (m.op === 'drop') jobs.delete(m.id);
    } else if (m.op === 'chunk') {
      job.hash.update(new Uint8Array(m.buffer));
    } else if (m.op === 'upto') {
      // Hash the file from where we stopped up to m.end (bytes the sink has written).
      if (!buf) buf = Buffer.allocUnsafe(4 << 20);
      while (job.pos < m.end) {
        const n = fs.readSync(job.fd, buf, 0, Math.min(buf.length, m.end - job.pos), job.pos);
        if (n === 0) throw new Error('file ended at ' + job.pos + ' bytes, expected ' + m.end);
        job.hash.update(buf.subarray(0, n));
        job.pos += n;
      }
    } else if (m.op === 'digest') {
      jobs.delete(m.id);
      if (job.fd >= 0) fs.closeSync(job.fd);
      parentPort.postMessage({ id: m.id, hex: job.hash.digest('hex') });
    } else if (m.op === 'drop') {
      jobs.delete(m.id);
      if (job.fd >= 0) fs.closeSync(job.fd);
    }
  } catch (err) {
    if (job) {
      job.error = String(err && err.message || err);
      if (job.fd >= 0) { try { fs.closeSync(job.fd); } catch {} job.fd = -1; }
    }
    if (m.op === 'digest') { jobs.delete(m.id); parentPort.postMessage({ id: m.id, error: job ? job.error : String(err) }); }
  }
});
`;

const POST_EVERY_BYTES = 8 << 20;

interface Reply { id: number; hex?: string; error?: string }

let worker: Worker | undefined;
let nextId = 1;
const waiting = new Map<number, { resolve: (hex: string) => void; reject: (err: Error) => void }>();

function shared(): Worker {
  if (!worker) {
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (r: Reply) => {
      const p = waiting.get(r.id);
      if (!p) return;
      waiting.delete(r.id);
      if (r.error !== undefined) p.reject(new Error(`sha256 of output failed: ${r.error}`));
      else p.resolve(r.hex!);
    });
    w.on('error', (err) => {
      for (const p of waiting.values()) p.reject(err);
      waiting.clear();
      worker = undefined;
    });
    w.unref();
    worker = w;
  }
  return worker;
}

function begin(path?: string): number {
  const id = nextId++;
  shared().postMessage({ op: 'open', id, path });
  return id;
}

/** Only an awaited digest keeps the process alive (a file never committed or aborted cannot hang it). */
function digestOf(id: number): Promise<string> {
  const w = shared();
  return new Promise<string>((resolve, reject) => {
    if (waiting.size === 0) w.ref();
    waiting.set(id, { resolve, reject });
    w.postMessage({ op: 'digest', id });
  }).finally(() => {
    if (waiting.size === 0) worker?.unref();
  });
}

/** Hashes a file by reading it back as it grows: call `upTo(n)` once its first n bytes are written. */
export class FileHasher {
  private readonly id: number;
  private finished = false;
  private announced = 0;
  private posted = 0;
  constructor(path: string) {
    this.id = begin(path);
  }
  upTo(bytes: number): void {
    this.announced = bytes;
    // Every message wakes the worker; a few MB at a time is plenty to keep it busy.
    if (bytes - this.posted >= POST_EVERY_BYTES) this.post();
  }
  private post(): void {
    if (this.posted === this.announced) return;
    this.posted = this.announced;
    shared().postMessage({ op: 'upto', id: this.id, end: this.posted });
  }
  /** The sha256 (hex) of the bytes announced so far. */
  digest(): Promise<string> {
    this.post();
    this.finished = true;
    return digestOf(this.id);
  }
  drop(): void {
    if (this.finished) return;
    this.finished = true;
    shared().postMessage({ op: 'drop', id: this.id });
  }
}

/** Hashes chunks handed to it (each is copied once; the caller keeps its own). */
export class ChunkHasher {
  private readonly id: number;
  private finished = false;
  constructor() {
    this.id = begin();
  }
  update(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const copy = chunk.slice();
    shared().postMessage({ op: 'chunk', id: this.id, buffer: copy.buffer }, [copy.buffer]);
  }
  digest(): Promise<string> {
    this.finished = true;
    return digestOf(this.id);
  }
  drop(): void {
    if (this.finished) return;
    this.finished = true;
    shared().postMessage({ op: 'drop', id: this.id });
  }
}
