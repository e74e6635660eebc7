import { describe, expect, it } from 'vitest';
import { Channel } from '../src/convert/channel.ts';

describe('Channel', () => {
  it('delivers every item in order and bounds what is queued', async () => {
    const ch = new Channel<number>(3);
    let maxQueued = 0;
    let pushed = 0;
    let consumed = 0;
    const producer = (async () => {
      for (let i = 0; i < 100; i++) {
        await ch.push(i);
        pushed++;
        maxQueued = Math.max(maxQueued, pushed - consumed);
      }
      ch.close();
    })();
    const got: number[] = [];
    for await (const x of ch) {
      got.push(x);
      consumed++;
      if (x % 7 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await producer;
    expect(got).toEqual([...Array(100).keys()]);
    expect(maxQueued).toBeLessThanOrEqual(4);
  });

  it('propagates a producer failure to the consumer', async () => {
    const ch = new Channel<number>(2);
    await ch.push(1);
    ch.fail(new Error('reader broke'));
    const got: number[] = [];
    await expect((async () => { for await (const x of ch) got.push(x); })()).rejects.toThrow('reader broke');
    expect(got).toEqual([1]);
  });

  it('unblocks the producer when the consumer stops early', async () => {
    const ch = new Channel<number>(1);
    const producer = (async () => {
      for (let i = 0; i < 10; i++) await ch.push(i);
    })();
    for await (const x of ch) if (x === 1) break;
    await expect(producer).rejects.toThrow(/consumer stopped/);
  });
});
