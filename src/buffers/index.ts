/**
 * Frame and output memory: one owner for shared blocks and the references held on them.
 *
 *  - `SharedBlock` is the handle: `retain()` before keeping bytes that lie in one past the call
 *    that handed them over, `release()` when done; `whenReleased()` waits for the other holders.
 *  - frame slots (`FrameSlots`, reader side `SlotPool`): frames a reader thread reads into shared
 *    memory; the owner's reference goes with `releaseFrame`.
 *  - `MediaArena`: a buffering writer's frames, retained (or copied) until its group is written.
 *  - `BlockPool`, `retainShared`: the local sink's own blocks, and references to callers' chunks.
 * Blocks are created and looked up only in here (test/buffers-imports.fast.test.ts checks).
 */
export { SharedBlock, debugBuffersOn, onSharedBlockCollected, setDebugBuffers, POISON_BYTE } from './shared-block.ts';
export { FrameSlots, releaseFrame } from './frame-slots.ts';
export type { SlotList } from './frame-slots.ts';
export { MediaArena } from './media-arena.ts';
export { BlockPool, checkLive, retainShared } from './block-pool.ts';
