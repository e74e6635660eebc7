/**
 * A bounded async queue: one producer `push`es (awaiting when full), one consumer iterates.
 * The convert pipeline routes one ordered Step stream into a channel per (split, format) writer,
 * all running concurrently, so memory stays bounded by the channel capacities.
 */
export class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private closed = false;
  private failure: unknown = undefined;
  private waitingConsumer: (() => void) | null = null;
  private waitingProducers: Array<() => void> = [];
  private consumerGone = false;

  constructor(private readonly capacity = 16) {}

  /** Resolves once the item is queued; waits while the queue is full. */
  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.consumerGone) {
      await new Promise<void>((resolve) => this.waitingProducers.push(resolve));
    }
    if (this.consumerGone) throw new Error('channel consumer stopped early');
    this.items.push(item);
    this.wakeConsumer();
  }

  /** No more items; the consumer finishes after draining. */
  close(): void {
    this.closed = true;
    this.wakeConsumer();
  }

  /** End the consumer's iteration with an error (the producer failed). */
  fail(err: unknown): void {
    this.failure = err ?? new Error('channel failed');
    this.closed = true;
    this.wakeConsumer();
  }

  private wakeConsumer(): void {
    const w = this.waitingConsumer;
    this.waitingConsumer = null;
    w?.();
  }

  private wakeProducers(): void {
    const ws = this.waitingProducers;
    this.waitingProducers = [];
    for (const w of ws) w();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      for (;;) {
        if (this.items.length > 0) {
          const item = this.items.shift() as T;
          this.wakeProducers();
          yield item;
          continue;
        }
        if (this.failure !== undefined) throw this.failure;
        if (this.closed) return;
        await new Promise<void>((resolve) => { this.waitingConsumer = resolve; });
      }
    } finally {
      // A consumer that stops early (error, break) must not leave the producer blocked forever.
      this.consumerGone = true;
      this.wakeProducers();
    }
  }
}
