/**
 * One writer per output: a convert holds a lock on its `--out` from before its first write until it
 * ends. The holder is recorded as pid, host and start time, so a refused run can name it, and a lock
 * whose process is gone (same host, pid not alive) is taken over instead of blocking forever.
 *
 * The local lock is a file created with O_EXCL; the object store locks (S3 conditional create,
 * Azure blob lease) live in s3.ts and azure.ts and share the holder record and messages from here.
 * Held locks are released when the process is interrupted (SIGINT, SIGTERM) as well as on return.
 * An operation run through `untilInterrupted` (the CLI's convert and push) is aborted instead, and
 * cleans up through its own abort path, the same as a program's AbortSignal.
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { closeSync, openSync, readFileSync, readSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import { AbortError } from '../abort.ts';
import { NusomiError } from '../errors.ts';

/** Who holds a lock: written into the lock, read back by a refused run. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken (for the message only; nothing of it reaches an output). */
  since: string;
  /** Random: tells this holder's lock from a later one at the same place. */
  token: string;
  /**
   * The process's start time as the OS counts it (Linux: clock ticks since boot), where known: a
   * live process with the holder's pid but another start time reused the pid after the holder died.
   */
  start?: string;
}

export interface OutputLock {
  /** Set when a lock left by a process that is gone was taken over: a sentence for the user. */
  readonly tookOver?: string;
  /**
   * Throws unless this run still holds the lock: it may have been removed by hand and taken by
   * another run, or a lease may have lapsed. Called before the new dataset replaces the old one.
   */
  check(): Promise<void>;
  /** Give the lock up; safe to call twice. */
  release(): Promise<void>;
}

/** The output is locked by another run: exit 1, one line naming the holder. */
export class OutputBusyError extends NusomiError {
  constructor(message: string) {
    super(message, {}, 1);
    this.name = 'OutputBusyError';
  }
}

/** Name of the lock beside (local) or under (object stores) an output root. */
export const LOCK_NAME = '.nusomi-lock';

/** Lock records larger than this are not ours: never parsed. */
export const MAX_LOCK_BYTES = 4096;

/** The first bytes of a lock file, enough to tell a record from anything larger; undefined if absent. */
async function readLock(file: string): Promise<Uint8Array | undefined> {
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const buf = new Uint8Array(MAX_LOCK_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function readLockSync(file: string): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = new Uint8Array(MAX_LOCK_BYTES + 1);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } finally {
    closeSync(fd);
  }
}

/** A lock file this old that still holds no readable record is a crashed creator's. */
const UNREADABLE_STALE_MS = 10_000;

export function newHolder(): LockHolder {
  const h: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  const start = processStart(process.pid);
  if (start !== undefined) h.start = start;
  return h;
}

/** Bytes of /proc/<pid>/stat read at most; the line is a few hundred. */
const MAX_STAT_BYTES = 4096;

/**
 * When the process `pid` started, as an opaque string that changes when the pid is reused: field 22
 * of /proc/<pid>/stat (see proc(5)). Undefined where there is no /proc or the process is gone.
 */
export function processStart(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1').slice(0, MAX_STAT_BYTES);
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = fields[19];
  return start && /^[0-9]+$/.test(start) ? start : undefined;
}

export function encodeHolder(h: LockHolder): string {
  return JSON.stringify(h) + '\n';
}

/** The holder in a lock's bytes, or undefined when they are not a holder record. */
export function decodeHolder(bytes: Uint8Array | string): LockHolder | undefined {
  if (bytes.length === 0 || bytes.length > MAX_LOCK_BYTES) return undefined;
  try {
    const v = JSON.parse(typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes)) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') {
      const h: LockHolder = { pid: v.pid, host: v.host, since: typeof v.since === 'string' ? v.since : '?', token: v.token };
      if (typeof v.start === 'string') h.start = v.start;
      return h;
    }
  } catch {
    // not a record
  }
  return undefined;
}

export function describeHolder(h: LockHolder | undefined): string {
  return h ? `pid ${h.pid} on host ${h.host}, since ${h.since}` : 'an unknown process';
}

/**
 * True when the holder ran on this host and its process no longer exists: no process has its pid,
 * or the one that has it started at another time than the holder (the pid was reused).
 */
export function holderIsGone(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return false;
  if (h.pid === process.pid) return h.start !== undefined && h.start !== processStart(process.pid);
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    // EPERM: the process exists under another user.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  if (h.start === undefined) return false;
  const now = processStart(h.pid);
  return now !== undefined && now !== h.start;
}

export function busyMessage(out: string, h: LockHolder | undefined, how: string): string {
  return `--out ${out} is being written by another convert (${describeHolder(h)}); wait for it to finish, or ${how}`;
}

/** This run's lock is no longer its own: exit 1, nothing more is replaced or deleted. */
export function lostMessage(out: string, lock: string, now: LockHolder | undefined): string {
  const by = now ? `it is now held by ${describeHolder(now)}` : 'it is gone';
  return `--out ${out}: this convert lost its lock ${lock} (${by}), so another run may be writing there; nothing was replaced, run again`;
}

export function takeOverNote(out: string, h: LockHolder): string {
  return `took over the lock on ${out} left by ${describeHolder(h)}, which is no longer running`;
}

// ---------- release on interrupt ----------

type Cleanup = () => Promise<void>;
const cleanups = new Set<Cleanup>();
const syncCleanups = new Set<() => void>();
/** Operations run by untilInterrupted: aborted first on an interrupt. */
const operations = new Set<{ controller: AbortController; running: Promise<unknown> }>();
/** Longest an interrupted run waits for its aborted operations, then for its cleanups, before it exits anyway. */
const CLEANUP_TIMEOUT_MS = 5_000;
let interrupted = false;

/** `work` settled, or CLEANUP_TIMEOUT_MS passed. */
function settledOrTimedOut(work: Promise<unknown>[]): Promise<unknown> {
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, CLEANUP_TIMEOUT_MS).unref());
  return Promise.race([Promise.all(work.map((p) => p.catch(() => {}))), timeout]);
}

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return; // a second Ctrl-C while cleaning up: the cleanup timeout still applies
  interrupted = true;
  // Operations clean up through their abort path (output dropped, workers stopped, lock released),
  // which unregisters their cleanups; what is still registered after them runs next.
  const running = [...operations].map((o) => {
    o.controller.abort(new AbortError(`interrupted by ${signal}`));
    return o.running;
  });
  void settledOrTimedOut(running)
    .then(() => settledOrTimedOut([...cleanups].map((c) => c())))
    .then(() => {
      for (const c of syncCleanups) c();
      unlisten();
      // Die of the same signal, as if no handler had been installed (exit status 128 + n for shells).
      process.kill(process.pid, signal);
    });
}

function onExit(): void {
  for (const c of syncCleanups) c();
}

function listening(): boolean {
  return cleanups.size > 0 || syncCleanups.size > 0 || operations.size > 0;
}

function listen(): void {
  if (listening()) return;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);
}

function unlisten(): void {
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('exit', onExit);
}

/**
 * Run `cleanup` if the process is interrupted while it is registered (and `sync` at exit, for what
 * can be undone synchronously). Returns the unregister function.
 */
export function cleanupOnInterrupt(cleanup: Cleanup, sync?: () => void): () => void {
  listen();
  cleanups.add(cleanup);
  if (sync) syncCleanups.add(sync);
  return () => {
    cleanups.delete(cleanup);
    if (sync) syncCleanups.delete(sync);
    if (!listening() && !interrupted) unlisten();
  };
}

/**
 * Run `op` with a signal that SIGINT and SIGTERM abort: the operation cleans up as on any abort,
 * then the process dies of the signal. Interrupted, this never settles (the process ends first), so
 * the caller prints nothing about the abort.
 */
export async function untilInterrupted<T>(op: (signal: AbortSignal) => Promise<T>): Promise<T> {
  listen();
  const controller = new AbortController();
  const entry = { controller, running: op(controller.signal) };
  operations.add(entry);
  try {
    return await entry.running;
  } catch (err) {
    if (interrupted) await new Promise<never>(() => {});
    throw err;
  } finally {
    operations.delete(entry);
    if (!listening() && !interrupted) unlisten();
  }
}

// ---------- local lock file ----------

/**
 * Take the lock file `file` (created with O_EXCL, holding the holder record) for the output `out`.
 * A lock whose holder is gone is taken over; any other held lock fails at once with OutputBusyError.
 */
export async function lockFile(file: string, out: string): Promise<OutputLock> {
  const me = newHolder();
  // Interrupted while taking it: the file may already be this run's; then it goes.
  const removeIfMine = (): void => {
    try {
      if (decodeHolder(readLockSync(file) ?? new Uint8Array())?.token === me.token) unlinkSync(file);
    } catch {
      // not there
    }
  };
  const undo = cleanupOnInterrupt(async () => removeIfMine(), removeIfMine);
  try {
    return await takeLockFile(file, out, me);
  } finally {
    undo();
  }
}

async function takeLockFile(file: string, out: string, me: LockHolder): Promise<OutputLock> {
  let tookOver: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, encodeHolder(me), { flag: 'wx', mode: 0o644 });
      return heldFile(file, out, me, tookOver);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        const e = err as NodeJS.ErrnoException;
        throw new NusomiError(`--out ${out}: cannot create the lock file ${file} (${e.code ?? e.message})`, {}, 1);
      }
    }
    const seen = await readLock(file);
    if (seen === undefined) continue; // released meanwhile: try again
    const holder = decodeHolder(seen);
    const stale = holder ? holderIsGone(holder) : await olderThan(file, UNREADABLE_STALE_MS);
    if (!stale) throw new OutputBusyError(busyMessage(out, holder, `remove ${file} if no convert is running`));
    // Take over by renaming the stale file away; if what was renamed is not what was judged stale
    // (another run took it over first), put it back and report that run as the holder.
    const aside = `${file}.stale-${me.token}`;
    try {
      await rename(file, aside);
    } catch {
      continue;
    }
    const moved = await readLock(aside);
    if (moved && Buffer.compare(moved, seen) !== 0) {
      // link, not rename: never replace a lock created meanwhile.
      await link(aside, file).catch(() => {});
      await rm(aside, { force: true });
      throw new OutputBusyError(busyMessage(out, decodeHolder(moved), `remove ${file} if no convert is running`));
    }
    await rm(aside, { force: true });
    tookOver = holder ? takeOverNote(out, holder) : `removed an unreadable stale lock file ${file}`;
  }
  throw new OutputBusyError(busyMessage(out, undefined, `remove ${file} if no convert is running`));
}

async function olderThan(file: string, ms: number): Promise<boolean> {
  const st = await stat(file).catch(() => undefined);
  return st !== undefined && Date.now() - st.mtimeMs > ms;
}

function heldFile(file: string, out: string, me: LockHolder, tookOver: string | undefined): OutputLock {
  let released = false;
  const mine = async (): Promise<boolean> => decodeHolder((await readLock(file)) ?? new Uint8Array())?.token === me.token;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    unregister();
    if (await mine()) await rm(file, { force: true });
  };
  const unregister = cleanupOnInterrupt(release, () => {
    if (released) return;
    released = true;
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
  });
  const check = async (): Promise<void> => {
    const now = decodeHolder((await readLock(file)) ?? new Uint8Array());
    if (now?.token !== me.token) throw new NusomiError(lostMessage(out, file, now), {}, 1);
  };
  return { tookOver, check, release };
}
