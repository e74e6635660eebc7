/**
 * The reader thread's side of frame slots (frame-slots.ts is the main thread's): shared memory to
 * read frames into, reused once the main thread gives a slot back. Runs inside the reader worker.
 */
import type { SlotList } from './frame-slots.ts';

/** Slots kept for reuse at most; beyond, the oldest are dropped (and the main thread told). */
const SLOTS_MAX = 512;
/** New slots are whole multiples of this (fewer distinct sizes, better reuse). */
const SLOT_ROUNDING = 65536;

export interface TakenSlot {
  slot: number;
  buffer: SharedArrayBuffer;
  /** A new slot: its memory goes with the answer (a reused one the main thread still holds). */
  fresh: boolean;
}

export class SlotPool {
  private readonly free: TakenSlot[] = [];
  private nextSlot = 1;

  /** A slot of at least `size` bytes that does not waste half of itself. */
  take(size: number): TakenSlot {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const n = this.free[i]!.buffer.byteLength;
      if (n >= size && n <= size * 1.5 + SLOT_ROUNDING) return this.free.splice(i, 1)[0]!;
    }
    return { slot: this.nextSlot++, buffer: new SharedArrayBuffer(Math.ceil((size + 1) / SLOT_ROUNDING) * SLOT_ROUNDING), fresh: true };
  }

  /** Slots given back; returns the numbers dropped from the pool (the main thread forgets them). */
  giveBack(list: SlotList): number[] {
    for (let i = 0; i < list.length; i += 2)
      this.free.push({ slot: list[i] as number, buffer: list[i + 1] as SharedArrayBuffer, fresh: false });
    if (this.free.length <= SLOTS_MAX) return [];
    return this.free.splice(0, this.free.length - SLOTS_MAX).map((s) => s.slot);
  }
}
