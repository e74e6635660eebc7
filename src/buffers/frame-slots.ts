/**
 * Frame slots: shared memory a reader thread reads frames into (slot-pool.ts, its side), leased to
 * the main thread one frame at a time and given back by number once nobody holds the frame.
 *
 * A leased slot carries one reference, its owner's (convert releases it with `releaseFrame` after
 * every writer's `add()`); writers that keep the frame and the sink take their own. When the last
 * one goes the slot returns to the reader thread, in batches (every message wakes that thread, and
 * on two cores a wake-up costs the sender its time slice more often than not). The reader thread
 * forgets a slot while it is handed out, so an unreleased slot is collected like any buffer.
 */
import { sharedBlockFor, sharedBlockOf } from './shared-block.ts';
import type { SharedBlock, SlotOwner } from './shared-block.ts';

/** Slots given back: [slot number, its memory]... (the reader thread reuses them by number). */
export type SlotList = (number | SharedArrayBuffer)[];

/** The main thread's side of one reader thread's slots. A new reader thread gets a new one. */
export class FrameSlots implements SlotOwner {
  /** Slots given back that the reader thread may answer with again. */
  private readonly atReader = new Map<number, SharedBlock>();
  private pending: SlotList = [];
  private closed = false;

  /** `send` posts given-back slots to the reader thread, `batch` slots at a time. */
  constructor(
    private readonly send: (slots: SlotList) => void,
    private readonly batch: number,
  ) {}

  /** The reader read `length` bytes into `slot` (`buffer`: its memory, when the slot is new). */
  lease(slot: number, length: number, buffer: SharedArrayBuffer | undefined): Uint8Array {
    const block = buffer ? sharedBlockFor(buffer) : this.atReader.get(slot);
    if (!block) throw new Error(`reader thread answered with slot ${slot}, which it was never given back`);
    this.atReader.delete(slot);
    block.lease(this, slot);
    return block.bytes.subarray(0, length);
  }

  /** @internal SharedBlock.release: the slot's last reference went. */
  slotFreed(block: SharedBlock): void {
    // Slot numbers mean something only to the reader thread that made them (it may have died).
    if (this.closed) return;
    this.atReader.set(block.slot, block);
    this.pending.push(block.slot, block.bytes.buffer as SharedArrayBuffer);
    if (this.pending.length / 2 >= this.batch) {
      const list = this.pending;
      this.pending = [];
      this.send(list);
    }
  }

  /** The reader thread dropped these slots from its pool: never answered with again. */
  forget(slots: number[]): void {
    for (const slot of slots) this.atReader.delete(slot);
  }

  /** The reader thread is gone: its slot numbers mean nothing now. */
  close(): void {
    this.closed = true;
    this.atReader.clear();
    this.pending = [];
  }

  /** @internal for tests: slots given back that the reader thread may still answer with. */
  get atReaderCount(): number {
    return this.atReader.size;
  }
}

/**
 * The owner's release of a frame: call once, after every writer's `add()` returned. Frames in a
 * slot go back to the reader once nobody else holds them; other bytes are left alone.
 */
export function releaseFrame(bytes: Uint8Array): void {
  const block = sharedBlockOf(bytes);
  if (block && block.slot >= 0) block.release();
}
