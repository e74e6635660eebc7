/**
 * Blocks of shared memory (SharedArrayBuffer) with a reference count: the one type for frame and
 * output memory that several holders use at once. Internal to src/buffers (index.ts is the API).
 *
 * Why shared memory: the local sink writes with writev and hashes on a worker thread. A chunk in an
 * ordinary buffer must be copied into the sink's own blocks first (the caller reuses it as soon as
 * write() resolves, and moving it to the worker would wrap it in a new ArrayBuffer object each
 * time, which V8 counts towards full GCs). A chunk in a shared block needs neither: the sink takes a
 * reference, the worker reads the same memory, and the block's bytes stay put until every holder
 * has released it.
 *
 * Who holds references: a frame slot's owner (the reader leases it with one reference; convert
 * releases it after every writer's `add()`), a writer that keeps the frame past `add()` (the media
 * arena), and the local sink for every span queued or being hashed. The sink's own blocks and the
 * arena's own blocks are refilled by their owner only once `whenReleased()` resolves.
 *
 * Debug mode (`NUSOMI_DEBUG_BUFFERS=1`, on in the tests): a frame slot whose last reference goes is
 * filled with 0xDB and never reused, and taking a reference to it (the sink writing it, a writer
 * retaining it) throws, so a holder that kept the bytes without a reference fails loudly instead of
 * writing another frame's bytes. Outside debug mode retaining a free slot throws too (cheap: one
 * comparison); the poison fill is what debug mode adds.
 */

/** Set from the environment once; tests may switch it (`setDebugBuffers`). */
let debugBuffers = process.env.NUSOMI_DEBUG_BUFFERS === '1';

/** @internal for tests that check reuse, which debug mode turns off for frame slots. */
export function setDebugBuffers(on: boolean): void {
  debugBuffers = on;
}

export function debugBuffersOn(): boolean {
  return debugBuffers;
}

/** Byte written over a released frame slot in debug mode. */
export const POISON_BYTE = 0xdb;

/** The owner of frame slots: told when a slot's last reference goes (index of the reader's pool). */
export interface SlotOwner {
  slotFreed(block: SharedBlock): void;
}

export class SharedBlock {
  /** Names the block in messages to the hash worker; never reused. */
  readonly id: number;
  /** The whole block. */
  readonly bytes: Uint8Array;
  private refs = 0;
  private waiters: (() => void)[] | undefined;
  /** Frame slots only: the pool the slot returns to, and its number there. */
  private owner: SlotOwner | undefined;
  slot = -1;
  /** Debug mode: released for good (filled with POISON_BYTE). */
  private poisoned = false;

  constructor(buffer: SharedArrayBuffer, id: number) {
    this.id = id;
    this.bytes = new Uint8Array(buffer);
  }

  /** References held now. */
  get references(): number {
    return this.refs;
  }

  /** Take a reference: the bytes stay put until the matching `release()`. */
  retain(): void {
    // A frame slot nobody holds is back at the reader (or poisoned): its bytes are another frame's.
    if (this.refs === 0 && this.owner) throw this.useAfterRelease();
    this.refs++;
  }

  release(): void {
    if (this.refs <= 0) throw new Error(`shared block ${this.id} released more often than retained`);
    if (--this.refs > 0) return;
    const waiters = this.waiters;
    if (waiters) {
      this.waiters = undefined;
      for (const w of waiters) w();
    }
    if (!this.owner) return;
    if (debugBuffers) {
      this.poisoned = true;
      this.bytes.fill(POISON_BYTE);
      return;
    }
    this.owner.slotFreed(this);
  }

  /** Resolves once nobody holds a reference. */
  whenReleased(): Promise<void> {
    if (this.refs === 0) return Promise.resolve();
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  /** @internal frame-slots.ts: hand the slot out with one reference, its owner's. */
  lease(owner: SlotOwner, slot: number): void {
    if (this.refs !== 0 || this.poisoned) throw new Error(`frame slot ${slot} handed out while still held`);
    this.owner = owner;
    this.slot = slot;
    this.refs = 1;
  }

  /** Throws in debug mode when these bytes were released for good (see the module comment). */
  checkLive(): void {
    if (this.poisoned) throw this.useAfterRelease();
  }

  private useAfterRelease(): Error {
    return new Error(
      `frame memory used after its release (shared block ${this.id}, frame slot ${this.slot}): a writer kept a frame past add() without retain()`,
    );
  }
}

const byBuffer = new WeakMap<ArrayBufferLike, SharedBlock>();
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
    block = new SharedBlock(buffer, nextId++);
    byBuffer.set(buffer, block);
    collected.register(block, block.id);
  }
  return block;
}

/** The block `view` lies in, if it is one of ours. */
export function sharedBlockOf(view: Uint8Array): SharedBlock | undefined {
  return byBuffer.get(view.buffer);
}

/** A listener (the hash worker's owner) told when a block is garbage-collected, to let go of its own reference. */
export function onSharedBlockCollected(listener: (id: number) => void): void {
  collectedListeners.push(listener);
}
