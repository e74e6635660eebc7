/**
 * The media arena keeps a group's frames valid until the group is written, without an ordinary
 * reference to the caller's buffers: frames in shared memory are retained as they are (no copy),
 * others are copied into the arena's shared blocks, which are reused only once the sink lets go.
 */
import { describe, expect, it } from 'vitest';
import { MediaArena } from '../src/buffers/index.ts';
import { newSharedBlock, sharedBlockOf } from '../src/buffers/shared-block.ts';
import { noise, sha } from './helpers/bytes.ts';

describe('MediaArena', () => {
  it('retains a frame already in shared memory instead of copying it, until reset()', async () => {
    const arena = new MediaArena();
    await arena.begin();
    const slot = newSharedBlock(300_000);
    const frame = slot.bytes.subarray(0, 250_000);
    frame.set(noise(250_000, 1));
    const image = { bytes: frame, path: 'a.webp' };
    expect(arena.hold(image)).toBe(image); // as it is
    expect(slot.references).toBe(1);
    arena.reset();
    expect(slot.references).toBe(0);
  });

  it('copies other frames into its shared blocks, and a block is refilled only after the sink is done with it', async () => {
    const arena = new MediaArena();
    await arena.begin();
    const own = noise(200_000, 2);
    const held = arena.hold({ bytes: own, path: 'b.webp' }) as { bytes: Uint8Array; path: string };
    expect(held.path).toBe('b.webp');
    expect(held.bytes).not.toBe(own);
    expect(sha(held.bytes)).toBe(sha(own));
    const block = sharedBlockOf(held.bytes)!;
    expect(block).toBeDefined();
    own.fill(0); // the caller reuses its buffer: the held copy is unaffected
    expect(sha(held.bytes)).not.toBe(sha(own));

    block.retain(); // as the sink does while writing the group
    arena.reset(); // next group: the other block
    await arena.begin();
    arena.reset(); // and back to the first, still held
    let ready = false;
    const waiting = arena.begin().then(() => (ready = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(ready).toBe(false);
    block.release();
    await waiting;
    expect(ready).toBe(true);
  });

  it('copies a frame held twice in a group once, so both holds give the same buffer (a history frame)', async () => {
    const arena = new MediaArena();
    await arena.begin();
    const own = noise(120_000, 3);
    const first = arena.hold({ bytes: own, path: 'c.webp' }) as { bytes: Uint8Array };
    const again = arena.hold({ bytes: own, path: 'c.webp' }) as { bytes: Uint8Array };
    expect(again.bytes).toBe(first.bytes);
    expect(sha(again.bytes)).toBe(sha(own));
    arena.reset(); // a new group copies it anew
    await arena.begin();
    const next = arena.hold({ bytes: own, path: 'c.webp' }) as { bytes: Uint8Array };
    expect(next.bytes).not.toBe(first.bytes);
    expect(sha(next.bytes)).toBe(sha(own));
  });
});
