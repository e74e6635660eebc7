/**
 * The progress bar on stderr, drawn from the operation's own progress events (src/progress.ts):
 * convert shows rows written, MB/s and ETA; push shows files and bytes uploaded and ETA. Every
 * number on it is a number of an event.
 *
 * Shown on a TTY only, so logs and `--json` output stay clean; NUSOMI_HF_PROGRESS=1 shows it on
 * any stderr (one line per update, for CI logs), NUSOMI_HF_PROGRESS=0 hides it everywhere.
 */
import { createRequire } from 'node:module';
import type cliProgressModule from 'cli-progress';
import type { ProgressEvent } from '../progress.ts';
import { verbosity } from './output.ts';

/** Environment variable that forces the bar on (1) or off (0). */
export const PROGRESS_ENV = 'NUSOMI_HF_PROGRESS';
/** Seconds between two lines when the bar is forced onto a stream that is not a terminal. */
const NOT_TTY_EVERY_MS = 1000;

export interface ProgressBar {
  /** The `onProgress` callback of the operation. */
  on(event: ProgressEvent): void;
  stop(): void;
}

/** Whether the bar is drawn: not with --json or --quiet; NUSOMI_HF_PROGRESS decides, else a TTY stderr. */
export function progressWanted(opts: { json?: boolean; dryRun?: boolean } = {}): boolean {
  if (opts.json || opts.dryRun || verbosity() === 'quiet') return false;
  const forced = process.env[PROGRESS_ENV];
  if (forced === '1') return true;
  if (forced === '0') return false;
  return Boolean(process.stderr.isTTY);
}

/** Bytes as the bar shows them (KiB, MiB, ...). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function formatEta(s: number | null): string {
  if (s === null) return '?';
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** What the bar shows for an event, or undefined for events it does not draw (convert's plan and finalize, push's hashing). */
export function barState(e: ProgressEvent): { value: number; total: number; counts: string; detail: string; eta: string } | undefined {
  if (e.operation === 'convert') {
    if (e.phase !== 'write' || e.rowsTotal === null) return undefined;
    const mbps = e.elapsedSeconds > 0 ? e.bytesDone / 1e6 / e.elapsedSeconds : 0;
    return {
      value: e.rowsDone,
      total: e.rowsTotal,
      counts: `${e.rowsDone}/${e.rowsTotal} rows`,
      detail: `${mbps.toFixed(1)} MB/s`,
      eta: formatEta(e.etaSeconds),
    };
  }
  if (e.phase === 'hash' || e.bytesTotal === null) return undefined;
  return {
    value: e.bytesDone,
    total: Math.max(1, e.bytesTotal),
    counts: `${e.filesDone}/${e.filesTotal ?? '?'} files`,
    detail: `${formatBytes(e.bytesDone)}/${formatBytes(e.bytesTotal)}${e.commitsTotal > 1 ? `, commit ${e.commitsDone}/${e.commitsTotal}` : ''}`,
    eta: formatEta(e.etaSeconds),
  };
}

/** A bar labelled `label` on `stream` (stderr), started by the first event it draws. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  // Loaded when a bar is drawn (a TTY): the library and its dependencies are ~10 ms of every start-up.
  const cliProgress = createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {counts} | {detail} | ETA {left}`,
      stream,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: NOT_TTY_EVERY_MS,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    on(e) {
      const s = barState(e);
      if (!s) return;
      const payload = { counts: s.counts, detail: s.detail, left: s.eta };
      if (!started) {
        started = true;
        bar.start(s.total, s.value, payload);
      } else {
        bar.setTotal(s.total);
        bar.update(s.value, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
