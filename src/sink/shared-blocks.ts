/**
 * Buffers in shared memory (SharedArrayBuffer) that the local sink writes and hashes where they are.
 *
 * Why: the local sink writes with writev and hashes on a worker thread. A chunk in an ordinary
 * buffer must be copied into the sink's own blocks first (the caller reuses it as soon as write()
 * resolves, and moving it to the worker would wrap it in a new ArrayBuffer object each time, which
 * V8 counts towards full GCs). A chunk in a shared block needs neither: the sink queues a reference,
 * the worker reads the same memory, and the block stays pinned until both are done with it.
 * Shared blocks today: the sink's own blocks, the Parquet/Arrow media arena, and frames read by the
 * local source's reader thread.
 *
 * The rule for an owner of a block: after handing part of it to `OutputFile.write`, change those
 * bytes only once `whenUnpinned(block)` resolves. A block nobody references is garbage-collected
 * like any buffer (listeners such as the hash worker are told to let go of it too).
 */
export interface SharedBlock {
  /** Names the block in messages to the hash worker; never reused. */
  readonly id: number;
  /** The whole block. */
  readonly bytes: Uint8Array;
  /** References the sink still holds (queued or being hashed). */
  pins: number;
}

const byBuffer = new WeakMap<ArrayBufferLike, SharedBlock>();
const unpinnedWaiters = new Map<SharedBlock, (() => void)[]>();
const collectedListeners: ((id: number) => void)[] = [];
const collected = new FinalizationRegistry<number>((id) => {
  for (const listener of collectedListeners) listener(id);
});
let nextId = 1;

/** A new block of `size` bytes. */
export function newSharedBlock(size: number): SharedBlock {
  return sharedBlockFor(new SharedArrayBuffer(size));
}

/** The block for shared memory made elsewhere (another thread): registered on first sight. */
export function sharedBlockFor(buffer: SharedArrayBuffer): SharedBlock {
  let block = byBuffer.get(buffer);
  if (!block) {
    block = { id: nextId++, bytes: new Uint8Array(buffer), pins: 0 };
    byBuffer.set(buffer, block);
    collected.register(block, block.id);
  }
  return block;
}

/** The block `view` lies in, if it is one of ours. */
export function sharedBlockOf(view: Uint8Array): SharedBlock | undefined {
  return byBuffer.get(view.buffer);
}

export function pin(block: SharedBlock): void {
  block.pins++;
}

export function unpin(block: SharedBlock): void {
  if (block.pins <= 0) throw new Error(`shared block ${block.id} unpinned more often than pinned`);
  if (--block.pins > 0) return;
  const waiters = unpinnedWaiters.get(block);
  if (!waiters) return;
  unpinnedWaiters.delete(block);
  for (const w of waiters) w();
}

/** Resolves once nothing holds a reference into the block. */
export function whenUnpinned(block: SharedBlock): Promise<void> {
  if (block.pins === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const list = unpinnedWaiters.get(block) ?? [];
    list.push(resolve);
    unpinnedWaiters.set(block, list);
  });
}

/** @internal the hash worker listens, to let go of its own reference to a collected block. */
export function onSharedBlockCollected(listener: (id: number) => void): void {
  collectedListeners.push(listener);
}
