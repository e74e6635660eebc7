/**
 * Buffers in shared memory (SharedArrayBuffer) that the sink writes and hashes where they are.
 *
 * Why: the local sink writes with writev and hashes on a worker thread. A chunk in an ordinary
 * buffer must be copied into the sink's own blocks first (the caller reuses it as soon as write()
 * resolves, and moving it to the worker would wrap it in a new ArrayBuffer object each time, which
 * V8 counts towards full GCs). A chunk in a shared block needs neither: the sink queues a reference,
 * the worker reads the same memory, and the block stays pinned until both are done with it.
 *
 * The rule for an owner of a block: after handing part of it to `OutputFile.write`, change those
 * bytes only once `whenUnpinned(block)` resolves.
 */
export interface SharedBlock {
  /** Names the block in messages to the hash worker; never reused. */
  readonly id: number;
  /** The whole block. */
  readonly bytes: Uint8Array;
  /** References the sink still holds (queued or being hashed). */
  pins: number;
}

const blocks = new Map<number, SharedBlock>();
const byBuffer = new WeakMap<ArrayBufferLike, SharedBlock>();
const unpinnedWaiters = new Map<SharedBlock, (() => void)[]>();
const dropListeners: ((id: number) => void)[] = [];
let nextId = 1;

/** A new block of `size` bytes; `dropSharedBlock` when it is no longer wanted (or keep and reuse it). */
export function newSharedBlock(size: number): SharedBlock {
  const block: SharedBlock = { id: nextId++, bytes: new Uint8Array(new SharedArrayBuffer(size)), pins: 0 };
  blocks.set(block.id, block);
  byBuffer.set(block.bytes.buffer, block);
  return block;
}

export function sharedBlockById(id: number): SharedBlock {
  const block = blocks.get(id);
  if (!block) throw new Error(`shared block ${id} is not registered`);
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

/** Forget a block that is no longer pinned (others holding it, like the hash worker, are told). */
export function dropSharedBlock(block: SharedBlock): void {
  if (block.pins > 0) throw new Error(`shared block ${block.id} is still pinned`);
  if (!blocks.delete(block.id)) return;
  byBuffer.delete(block.bytes.buffer);
  for (const listener of dropListeners) listener(block.id);
}

/** @internal the hash worker's registry listens, to free its own reference. */
export function onSharedBlockDropped(listener: (id: number) => void): void {
  dropListeners.push(listener);
}
