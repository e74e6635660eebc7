/**
 * Progress on a TTY only (rows, MB/s, ETA); nothing otherwise, so logs and `--json` output stay clean.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Count `rows` more rows and `bytes` more bytes. */
  tick(rows: number, bytes: number): void;
  stop(): void;
}

const silent: Progress = { tick() {}, stop() {} };

export function startProgress(label: string, totalRows: number, opts: { enabled?: boolean } = {}): Progress {
  const enabled = opts.enabled ?? Boolean(process.stderr.isTTY);
  if (!enabled || totalRows <= 0) return silent;
  const started = Date.now();
  let bytes = 0;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} rows | {mbps} MB/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 200,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(totalRows, 0, { mbps: '0.0' });
  return {
    tick(rows, b) {
      bytes += b;
      const secs = Math.max((Date.now() - started) / 1000, 1e-3);
      bar.increment(rows, { mbps: (bytes / 1e6 / secs).toFixed(1) });
    },
    stop() {
      bar.stop();
    },
  };
}
