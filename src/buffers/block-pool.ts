import { newSharedBlock, sharedBlockOf } from './shared-block.ts';
import type { SharedBlock } from './shared-block.ts';

/** Shared blocks of one size, reused: a writer's own blocks (the local sink's write-behind). */
export class BlockPool {
  private readonly free: SharedBlock[] = [];
  constructor(readonly blockBytes: number) {}

  /** A block nobody holds. */
  take(): SharedBlock {
    return this.free.pop() ?? newSharedBlock(this.blockBytes);
  }

  /** Back for reuse; only a block nobody holds any more. */
  give(block: SharedBlock): void {
    if (block.references !== 0) throw new Error(`shared block ${block.id} given back while held`);
    this.free.push(block);
  }
}

/**
 * The block `chunk` lies in, retained (release it once done with the bytes); undefined when the
 * chunk is in ordinary memory (copy it instead). In debug mode, bytes released for good throw.
 */
export function retainShared(chunk: Uint8Array): SharedBlock | undefined {
  const block = sharedBlockOf(chunk);
  block?.retain();
  return block;
}

/** Debug mode: throws if `chunk` lies in frame memory released for good (a use after release). */
export function checkLive(chunk: Uint8Array): void {
  sharedBlockOf(chunk)?.checkLive();
}
