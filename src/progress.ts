/**
 * Progress of a long operation (convert, push), as events handed to an `onProgress` callback. The
 * CLI's progress bar is one such callback (src/cli/progress.ts); a program gets the same events.
 *
 * Events come at the start and end of every phase and in between at most every
 * PROGRESS_INTERVAL_MS or every PROGRESS_STEPS-th of the phase's total, whichever comes first:
 * never once per row on a large dataset. The hot loops pay two additions and a compare: the
 * interval is a timer that marks the next event due, not a clock read per row (a clock read can be a
 * system call).
 */

/** The counts every event carries. A count the phase does not know is null, never a guess. */
export interface ProgressCounts {
  /** Rows done in this phase (convert: rows read while planning, rows written while writing). */
  rowsDone: number;
  /** Rows this phase will handle, when known (the export manifest's `rows` while planning, the planned rows while writing). */
  rowsTotal: number | null;
  /** Bytes done in this phase: frame bytes written (convert), bytes read or uploaded (push). */
  bytesDone: number;
  /** Bytes this phase will handle, when known (push: the files' sizes). */
  bytesTotal: number | null;
  /** Files done in this phase (convert: files written while finalizing; push: files hashed or uploaded). */
  filesDone: number;
  /** Files this phase will handle, when known. */
  filesTotal: number | null;
  /**
   * Seconds this phase still needs, estimated from its rate so far over the first total known
   * (rows, else bytes, else files); null until a second of work or a tenth of the total is behind it,
   * or when no total is known. 0 once the phase is done.
   */
  etaSeconds: number | null;
  /** Seconds since this phase started. */
  elapsedSeconds: number;
}

/** Convert's phases, in order: `plan` reads the export once (no frames), `write` writes the rows, `finalize` writes dataset-level files, the card and the manifest and puts the dataset in place. */
export type ConvertPhase = 'plan' | 'write' | 'finalize';

/** Push's phases: `hash` compares the dataset's files with the branch, `upload` sends what changed, `commit` records a commit (a large push alternates upload and commit, once per commit). */
export type PushPhase = 'hash' | 'upload' | 'commit';

export interface ConvertProgressEvent extends ProgressCounts {
  operation: 'convert';
  phase: ConvertPhase;
}

export interface PushProgressEvent extends ProgressCounts {
  operation: 'push';
  phase: PushPhase;
  /** Commits made so far (`commit` phase; earlier phases: 0). Upload counts run across all commits. */
  commitsDone: number;
  /** Commits this push makes (known once the files to upload are known; 0 before, and when nothing changed). */
  commitsTotal: number;
}

/** What `onProgress` receives; `operation` tells the two apart. */
export type ProgressEvent = ConvertProgressEvent | PushProgressEvent;

/** Longest gap between two events of a phase while work goes on. */
export const PROGRESS_INTERVAL_MS = 250;
/** A phase with a known total also reports each time another 1/PROGRESS_STEPS of it is done. */
export const PROGRESS_STEPS = 100;

type Extra<E extends ProgressEvent> = Omit<E, keyof ProgressCounts | 'operation' | 'phase'>;

/**
 * Counts one operation's progress and emits throttled events. The hot path is `advance`: two
 * additions and a compare; an event object is made only when one is emitted.
 */
export class ProgressMeter<E extends ProgressEvent> {
  rowsDone = 0;
  rowsTotal: number | null = null;
  bytesDone = 0;
  bytesTotal: number | null = null;
  filesDone = 0;
  filesTotal: number | null = null;
  private phase: E['phase'] | undefined;
  private started = 0;
  /** Set by `timer` once PROGRESS_INTERVAL_MS passed since the last event. */
  private due = false;
  /** One unref'd timer, restarted at each event: it never keeps the process alive. */
  private timer: NodeJS.Timeout | undefined;
  private nextUnits = Number.POSITIVE_INFINITY;
  /** Start times of phases entered before: a phase re-entered (push: upload after commit) keeps its rate. */
  private readonly phaseStarts = new Map<string, number>();

  constructor(
    private readonly operation: E['operation'],
    private readonly emit: (event: E) => void,
    private readonly extra: () => Extra<E>,
  ) {}

  /**
   * Enter `phase` with these counts (omitted counts start at 0 / unknown) and emit its first event.
   * Its rate (ETA) counts from when `ratePhase` (default: this phase) was first entered.
   */
  start(
    phase: E['phase'],
    counts: Partial<Pick<ProgressCounts, 'rowsTotal' | 'bytesTotal' | 'filesTotal' | 'rowsDone' | 'bytesDone' | 'filesDone'>> = {},
    ratePhase: E['phase'] = phase,
  ): void {
    this.phase = phase;
    this.rowsDone = counts.rowsDone ?? 0;
    this.bytesDone = counts.bytesDone ?? 0;
    this.filesDone = counts.filesDone ?? 0;
    this.rowsTotal = counts.rowsTotal ?? null;
    this.bytesTotal = counts.bytesTotal ?? null;
    this.filesTotal = counts.filesTotal ?? null;
    const now = performance.now();
    this.started = this.phaseStarts.get(ratePhase) ?? now;
    this.phaseStarts.set(ratePhase, this.started);
    this.report(now);
  }

  /** `rows` and `bytes` more done: emits when the interval has passed or another step of the total is done. */
  advance(rows: number, bytes: number): void {
    this.rowsDone += rows;
    this.bytesDone += bytes;
    if (this.due || this.units() >= this.nextUnits) this.report(performance.now());
  }

  /** `files` more done; emits like `advance`. */
  addFiles(files: number): void {
    this.filesDone += files;
    this.advance(0, 0);
  }

  /** Emit now (the end of a phase, or a change the caller wants seen at once). */
  flush(): void {
    this.report(performance.now());
  }

  /** Done units of the first known total, and that total. */
  private units(): number {
    if (this.rowsTotal !== null) return this.rowsDone;
    if (this.bytesTotal !== null) return this.bytesDone;
    return this.filesDone;
  }

  private total(): number | null {
    return this.rowsTotal ?? this.bytesTotal ?? this.filesTotal;
  }

  private report(now: number): void {
    if (this.phase === undefined) return;
    this.due = false;
    if (this.timer) this.timer.refresh();
    else {
      this.timer = setTimeout(() => {
        this.due = true;
      }, PROGRESS_INTERVAL_MS);
      this.timer.unref();
    }
    const total = this.total();
    const done = this.units();
    this.nextUnits = total === null ? Number.POSITIVE_INFINITY : done + Math.max(1, Math.ceil(total / PROGRESS_STEPS));
    const elapsed = (now - this.started) / 1000;
    let eta: number | null = null;
    if (total !== null) {
      if (done >= total) eta = 0;
      else if (done > 0 && (elapsed >= 1 || done * 10 >= total)) eta = Math.round(((total - done) * elapsed) / done);
    }
    const event = {
      operation: this.operation,
      phase: this.phase,
      rowsDone: this.rowsDone,
      rowsTotal: this.rowsTotal,
      bytesDone: this.bytesDone,
      bytesTotal: this.bytesTotal,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      etaSeconds: eta,
      elapsedSeconds: Math.round(elapsed * 1000) / 1000,
      ...this.extra(),
    } as E;
    this.emit(event);
  }
}
