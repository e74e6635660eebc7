/**
 * Progress events and AbortSignal, in process: a convert of the samples reports plan, write and
 * finalize with rows growing to the dataset's rows; the CLI bar shows exactly the events' numbers;
 * convert, validate and inspect reject with an AbortError when their signal fires, and an aborted
 * convert leaves the earlier dataset, no lock and no build folder.
 */
import { cp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError } from '../src/abort.ts';
import { barState, progressBar } from '../src/cli/progress.ts';
import { convert } from '../src/convert/convert.ts';
import type { ConvertOptions } from '../src/convert/convert.ts';
import { inspectExport } from '../src/export/inspect.ts';
import { PROGRESS_INTERVAL_MS, PROGRESS_STEPS, ProgressMeter } from '../src/progress.ts';
import type { ConvertProgressEvent, ProgressEvent, PushProgressEvent } from '../src/progress.ts';
import { validate } from '../src/validate/validate.ts';
import { SAMPLE, tempDir } from './convert-fixtures.ts';
import { hashTree } from './helpers/bytes.ts';

let work = '';
beforeAll(async () => {
  work = await tempDir('nusomi-progress-');
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function options(out: string, extra: Partial<ConvertOptions> = {}): ConvertOptions {
  return {
    input: SAMPLE,
    out: path.join(work, out),
    formats: ['parquet', 'webdataset'],
    split: { split: 'train=0.8,validation=0.1,test=0.1', seed: '0' },
    filters: {},
    frames: {},
    wds: {},
    onError: 'stop',
    ...extra,
  };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err as Error,
  );
}

/** What a run left beside `out` in its parent: the lock and build folders are named `.<name>.*`. */
async function leftBeside(name: string): Promise<string[]> {
  return (await readdir(work)).filter((e) => e.startsWith(`.${name}.`));
}

describe('progress events', () => {
  it('a convert of the samples reports plan, write and finalize; written rows grow to the dataset rows', async () => {
    const events: ConvertProgressEvent[] = [];
    const r = await convert(options('events', { onProgress: (e) => events.push(e) }));
    const rows = Object.values(r.manifest.splits).reduce((n, s) => n + s.rows, 0);
    expect(rows).toBe(77);

    // Phases in order, each one entered once.
    const phases = events.map((e) => e.phase).filter((p, i, a) => i === 0 || a[i - 1] !== p);
    expect(phases).toEqual(['plan', 'write', 'finalize']);
    expect(events.every((e) => e.operation === 'convert')).toBe(true);

    const plan = events.filter((e) => e.phase === 'plan');
    expect(plan.at(-1)).toMatchObject({ rowsDone: 77, rowsTotal: 77 });

    const write = events.filter((e) => e.phase === 'write');
    expect(write.length).toBeGreaterThan(5);
    for (let i = 1; i < write.length; i++) {
      expect(write[i]!.rowsDone).toBeGreaterThanOrEqual(write[i - 1]!.rowsDone);
      expect(write[i]!.bytesDone).toBeGreaterThanOrEqual(write[i - 1]!.bytesDone);
    }
    expect(new Set(write.map((e) => e.rowsDone)).size).toBeGreaterThan(5);
    expect(write.every((e) => e.rowsTotal === rows)).toBe(true);
    expect(write.at(-1)).toMatchObject({ rowsDone: rows, etaSeconds: 0 });
    expect(write.at(-1)!.bytesDone).toBeGreaterThan(0);

    const last = events.at(-1)!;
    expect(last.phase).toBe('finalize');
    // Every file the manifest lists, plus README.md and dataset-manifest.json.
    expect(last).toMatchObject({ filesDone: r.manifest.files.length + 2, filesTotal: r.manifest.files.length + 2 });
  }, 60_000);

  it('the meter reports at most once per 1/PROGRESS_STEPS of a known total plus the interval, and always the end', () => {
    const seen: ProgressEvent[] = [];
    const meter = new ProgressMeter<ConvertProgressEvent>(
      'convert',
      (e) => seen.push(e),
      () => ({}),
    );
    const total = 100_000;
    meter.start('write', { rowsTotal: total });
    for (let i = 0; i < total; i++) meter.advance(1, 10);
    meter.flush();
    // start + one per step (+ a few by the interval on a slow machine) + the flush
    expect(seen.length).toBeGreaterThanOrEqual(PROGRESS_STEPS);
    expect(seen.length).toBeLessThan(PROGRESS_STEPS + 50);
    expect(seen.at(-1)).toMatchObject({ rowsDone: total, bytesDone: total * 10, etaSeconds: 0 });
  });

  it('without a total, events come every PROGRESS_INTERVAL_MS while work goes on, not per call', async () => {
    const seen: ProgressEvent[] = [];
    const meter = new ProgressMeter<ConvertProgressEvent>(
      'convert',
      (e) => seen.push(e),
      () => ({}),
    );
    meter.start('plan');
    const until = performance.now() + 4 * PROGRESS_INTERVAL_MS;
    let calls = 0;
    while (performance.now() < until) {
      meter.advance(1, 0);
      calls++;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(calls).toBeGreaterThan(20);
    // The start, then about one per interval (timers may run late on a busy machine, never early).
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.length).toBeLessThanOrEqual(5);
    expect(seen.every((e) => e.rowsTotal === null && e.etaSeconds === null)).toBe(true);
  });
});

describe('the CLI bar draws the events', () => {
  /** A stream that is not a terminal, collecting what the bar writes. */
  function sink(): { stream: NodeJS.WriteStream; text: () => string } {
    const s = new PassThrough();
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('utf8');
    });
    return { stream: s as unknown as NodeJS.WriteStream, text: () => text };
  }

  const counts = { bytesTotal: null, filesDone: 0, filesTotal: null } as const;

  it('convert: rows, MB/s and ETA are the last write event', () => {
    const out = sink();
    const bar = progressBar('convert', out.stream);
    // Numbers no convert produced: the bar can only have them from these events.
    const plan: ConvertProgressEvent = {
      operation: 'convert',
      phase: 'plan',
      rowsDone: 5,
      rowsTotal: 999,
      bytesDone: 0,
      elapsedSeconds: 1,
      etaSeconds: 3,
      ...counts,
    };
    bar.on(plan);
    const write = (rowsDone: number, etaSeconds: number): ConvertProgressEvent => ({
      operation: 'convert',
      phase: 'write',
      rowsDone,
      rowsTotal: 123,
      bytesDone: rowsDone * 100_000,
      elapsedSeconds: 1,
      etaSeconds,
      ...counts,
    });
    bar.on(write(0, 0));
    bar.on(write(37, 83));
    bar.stop();
    const lines = out
      .text()
      .split('\n')
      .filter((l) => l.trim());
    expect(lines.at(-1)).toMatch(/^convert \[.*\] 37\/123 rows \| 3\.7 MB\/s \| ETA 1m23s$/);
    // The plan event (999 rows) is not drawn.
    expect(out.text()).not.toContain('999');
  });

  it('push: files, bytes and commits are the last upload or commit event', () => {
    const out = sink();
    const bar = progressBar('push', out.stream);
    const e: PushProgressEvent = {
      operation: 'push',
      phase: 'commit',
      rowsDone: 0,
      rowsTotal: null,
      bytesDone: 3 * 1024 * 1024,
      bytesTotal: 12 * 1024 * 1024,
      filesDone: 7,
      filesTotal: 41,
      etaSeconds: 9,
      elapsedSeconds: 1,
      commitsDone: 1,
      commitsTotal: 2,
    };
    expect(barState({ ...e, phase: 'hash' })).toBeUndefined();
    bar.on(e);
    bar.stop();
    expect(out.text()).toMatch(/push \[.*\] 7\/41 files \| 3\.0 MiB\/12\.0 MiB, commit 1\/2 \| ETA 9s/);
  });
});

describe('AbortSignal', () => {
  it('an aborted signal stops convert before anything is written: AbortError, no output, no lock', async () => {
    const err = await rejection(convert(options('pre', { signal: AbortSignal.abort() })));
    expect(err.name).toBe('AbortError');
    expect(await readdir(work)).not.toContain('pre');
    expect(await leftBeside('pre')).toEqual([]);
  });

  it('convert aborted mid-write keeps the earlier dataset, removes lock and build folder; the reason is the cause', async () => {
    const out = 'mid';
    // The earlier dataset: the first test's conversion.
    await cp(path.join(work, 'events'), path.join(work, out), { recursive: true });
    const before = await hashTree(path.join(work, out));
    const controller = new AbortController();
    const reason = new Error('stopped by the test');
    let rowsAtAbort = 0;
    let lastRows = 0;
    const err = await rejection(
      convert(
        options(out, {
          signal: controller.signal,
          onProgress: (e) => {
            if (e.phase !== 'write') return;
            lastRows = e.rowsDone;
            if (e.rowsDone >= 10 && !controller.signal.aborted) {
              rowsAtAbort = e.rowsDone;
              controller.abort(reason);
            }
          },
        }),
      ),
    );
    expect(err).toBeInstanceOf(AbortError);
    expect(err.name).toBe('AbortError');
    expect(err.cause).toBe(reason);
    expect(rowsAtAbort).toBeGreaterThanOrEqual(10);
    // Stopped at the next row, not at the end.
    expect(lastRows).toBeLessThanOrEqual(rowsAtAbort + 1);
    expect(await hashTree(path.join(work, out))).toEqual(before);
    expect(await leftBeside(out)).toEqual([]);
  }, 60_000);

  it('validate and inspect reject with AbortError when aborted while reading', async () => {
    const dataset = path.join(work, 'events');
    const v = new AbortController();
    const running = validate([dataset], { signal: v.signal });
    setImmediate(() => v.abort());
    expect((await rejection(running)).name).toBe('AbortError');
    expect((await rejection(validate([dataset], { signal: AbortSignal.abort() }))).name).toBe('AbortError');

    const i = new AbortController();
    const inspecting = inspectExport(SAMPLE, { signal: i.signal });
    setImmediate(() => i.abort());
    expect((await rejection(inspecting)).name).toBe('AbortError');
    // Unaborted, both complete.
    expect((await inspectExport(SAMPLE, { signal: new AbortController().signal })).rows).toBe(77);
  }, 60_000);
});
