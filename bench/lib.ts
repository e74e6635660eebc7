/**
 * Benchmark plumbing: run a command, measure wall time and its peak RSS. Peak RSS comes from
 * Python's getrusage(RUSAGE_CHILDREN) around the command, which works on any Linux without GNU time.
 * Ratios between tools measured in the same run are what we quote; absolute times are noisy.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const venvPython = path.join(repoRoot, '.venv', 'bin', 'python');
/** The CLI as users run it: bin/ runs the bundle `npm run bench` builds first (scripts/build.mjs). */
export const cli = [process.execPath, path.join(repoRoot, 'bin/nusomi-hf.js')];

/**
 * Whether bin/ runs the bundle: dist/cli/BUILT is newer than every file under src/ (bin/'s own
 * rule). A source edited while the bench runs sends every later command through tsx and its
 * start-up: the 1x `convert --plan-only` took 1.1-1.75 s (1.2-1.5 CPU s) that way, 0.65 s (0.75 CPU s) from the bundle.
 */
export function bundleIsFresh(): boolean {
  let built: number;
  try {
    built = statSync(path.join(repoRoot, 'dist/cli/BUILT')).mtimeMs;
  } catch {
    return false;
  }
  const src = path.join(repoRoot, 'src');
  return readdirSync(src, { recursive: true, withFileTypes: true }).every(
    (e) => e.isDirectory() || statSync(path.join(e.parentPath, e.name)).mtimeMs <= built,
  );
}

export interface Measured {
  seconds: number;
  peakRssMB: number;
  /** CPU seconds (user + system, every thread) of the command: less noisy than wall time on a shared machine. */
  cpuSeconds?: number;
}

const WRAPPER = `
import json, resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
dt = time.perf_counter() - t
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode(errors="replace")[-4000:])
    sys.exit(r.returncode)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": dt, "maxrss_kb": u.ru_maxrss, "cpu_seconds": u.ru_utime + u.ru_stime}))
`;

/** Run argv to completion; throws with its stderr when it fails. */
export function measure(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Measured {
  const r = spawnSync('python3', ['-c', WRAPPER, ...argv], {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { seconds: number; maxrss_kb: number; cpu_seconds: number };
  return { seconds: out.seconds, peakRssMB: out.maxrss_kb / 1024, cpuSeconds: out.cpu_seconds };
}

/** Of repeated measurements: the best (shortest) time and the highest peak RSS seen. */
export function keepBest(prev: Measured | undefined, m: Measured): Measured {
  if (!prev) return m;
  return {
    seconds: Math.min(prev.seconds, m.seconds),
    peakRssMB: Math.max(prev.peakRssMB, m.peakRssMB),
    cpuSeconds: prev.cpuSeconds === undefined || m.cpuSeconds === undefined ? undefined : Math.min(prev.cpuSeconds, m.cpuSeconds),
  };
}

/** Best of n runs by time (the least disturbed by noise), peak RSS the max seen. */
export function measureBest(
  argv: string[],
  n: number,
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; before?: () => void } = {},
): Measured {
  let best: Measured | undefined;
  for (let i = 0; i < n; i++) {
    opts.before?.();
    best = keepBest(best, measure(argv, opts));
  }
  return best!;
}

export function run(argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env },
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

export const round = (x: number, digits = 2): number => Number(x.toFixed(digits));

export interface BenchRow {
  bench: string;
  tool: string;
  rows?: number;
  mb?: number;
  seconds: number;
  rows_per_s?: number;
  mb_per_s?: number;
  peak_rss_mb: number;
}

export function row(bench: string, tool: string, m: Measured, rows?: number, bytes?: number): BenchRow {
  return {
    bench,
    tool,
    rows,
    mb: bytes === undefined ? undefined : round(bytes / 1e6, 1),
    seconds: round(m.seconds, 2),
    rows_per_s: rows === undefined ? undefined : round(rows / m.seconds, 1),
    mb_per_s: bytes === undefined ? undefined : round(bytes / 1e6 / m.seconds, 1),
    peak_rss_mb: round(m.peakRssMB, 0),
  };
}

/** Merge one section's results into bench/results.json (other sections kept). */
export function saveSection(name: string, section: unknown): void {
  const file = path.join(repoRoot, 'bench', 'results.json');
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    all = {};
  }
  all[name] = section;
  writeFileSync(file, JSON.stringify(all, null, 2) + '\n');
}

/** Replace the README's bench table (between markers) with the rows of every section. */
export function writeReadmeTable(): void {
  const file = path.join(repoRoot, 'bench', 'results.json');
  const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, { rows?: BenchRow[]; ratios?: Record<string, number> }>;
  const lines = ['| bench | tool | rows | MB | rows/s | MB/s | peak RSS MB |', '|---|---|---:|---:|---:|---:|---:|'];
  const ratios: string[] = [];
  for (const [name, sec] of Object.entries(all)) {
    for (const r of sec.rows ?? []) {
      lines.push(
        `| ${r.bench} | ${r.tool} | ${r.rows ?? ''} | ${r.mb ?? ''} | ${r.rows_per_s ?? ''} | ${r.mb_per_s ?? ''} | ${r.peak_rss_mb} |`,
      );
    }
    for (const [k, v] of Object.entries(sec.ratios ?? {})) ratios.push(`- ${name}: ${k} = ${v}`);
  }
  const table = `${lines.join('\n')}\n\nRatios (same run):\n${ratios.join('\n')}\n`;
  const readme = path.join(repoRoot, 'README.md');
  const text = readFileSync(readme, 'utf8');
  const start = '<!-- bench:start -->';
  const end = '<!-- bench:end -->';
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error('README.md has no bench markers');
  writeFileSync(readme, text.slice(0, i + start.length) + '\n' + table + text.slice(j));
}

/**
 * Evict files from the page cache without root: fdatasync, then posix_fadvise(DONTNEED) on each
 * (clean pages of a file are dropped; `echo 3 > drop_caches` needs root, which the bench machines
 * do not give). The next read of these files comes from the disk.
 */
export function evictFromCache(files: string[]): void {
  const code =
    'import os,sys\nfor p in sys.argv[1:]:\n  fd=os.open(p,os.O_RDONLY)\n  os.fdatasync(fd); os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED); os.close(fd)';
  run([venvPython, '-c', code, ...files]);
}
