/**
 * The hostile-input corpus (scripts/make-hostile-corpus.ts) through the real CLI, for inspect,
 * convert and validate: every case exits 1 (never 70) with a one-line message naming the file and
 * position, never prints the secret its bad input holds, writes nothing outside --out and nothing
 * under --out, and the child's peak RSS (GNU time's "maximum resident set size") stays under the
 * case's bound. The two memory bombs run at default limits: a .jsonl.gz with a 3 GiB line and a tar
 * whose member is 2 GiB (sparse); the lowered-limit cases prove the flags.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, lstat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET, makeHostileCorpus } from '../scripts/make-hostile-corpus.ts';
import type { Command, HostileCase } from '../scripts/make-hostile-corpus.ts';
import { DEFAULT_LIMITS, frameSizeProblem } from '../src/limits.ts';
import { repoRoot } from './helpers/python.ts';
import { startRangeServer } from './helpers/services.ts';
import type { RangeServer } from './helpers/services.ts';

const SIG = 'hostile-sig-0123';
const COMMANDS: Command[] = ['inspect', 'convert', 'validate'];
const tsxLoader = fileURLToPath(import.meta.resolve('tsx'));
const main = path.join(repoRoot, 'src/cli/main.ts');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  rssKiB: number;
  /** Files in the child's (empty) working directory afterwards. */
  cwdFiles: string[];
  /** Files under --out afterwards (convert). */
  outFiles: string[];
  out: string;
}

let tmp: string;
let cases: HostileCase[];
let local: RangeServer;
let remote: RangeServer;
const runs = new Map<string, Run>();
/** Requests the other host (127.0.0.2) saw during each https run. */
const remoteHits = new Map<string, number>();

/** Every file under `dir` (symlinks too) with its size, sorted; [] when it does not exist. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(path.join(dir, prefix), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await tree(dir, rel)));
    else out.push(`${rel} ${(await lstat(path.join(dir, rel))).size}`);
  }
  return out.sort();
}

/** The CLI in a child under GNU time, in an empty working directory. */
async function runCli(key: string, args: string[]): Promise<Run> {
  const cwd = await mkdtemp(path.join(tmp, 'cwd-'));
  const timeFile = path.join(tmp, `time-${runs.size}-${Math.random().toString(36).slice(2)}`);
  const out = path.join(tmp, 'out', key.replace(/[^A-Za-z0-9_-]/g, '_'));
  const argv = args.map((a) => (a === '$OUT' ? out : a));
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', timeFile, process.execPath, '--import', tsxLoader, main, ...argv], {
    cwd,
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const timeLines = (await readFile(timeFile, 'utf8')).trim().split('\n');
  return {
    code,
    stdout,
    stderr,
    rssKiB: Number(timeLines[timeLines.length - 1]),
    cwdFiles: await tree(cwd),
    outFiles: await tree(out),
    out,
  };
}

function argsFor(c: HostileCase, cmd: Command, extra: string[] = []): string[] {
  if (cmd === 'convert') return ['convert', c.root, '--out', '$OUT', '--formats', 'jsonl', ...(c.flags ?? []), ...extra];
  return [cmd, c.root, ...(c.flags ?? []), ...extra];
}

/** Runs jobs two at a time (the machine is shared; one child per core). */
async function pool(jobs: (() => Promise<void>)[], width = 2): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) await jobs[next++]!();
    }),
  );
}

let before: Map<string, string[]>;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'hostile-'));
  // The other host serves the files outside the export, as a server an attacker points rows at.
  remote = await startRangeServer(path.join(tmp, 'corpus', 'outside'), { signature: SIG, host: '127.0.0.2' });
  cases = await makeHostileCorpus(path.join(tmp, 'corpus'), { remoteFrameUrl: remote.signed('secret.webp') });
  const https = cases.find((c) => c.name === 'https-other-host')!;
  local = await startRangeServer(https.root, { signature: SIG });
  const httpsDir = https.root;
  https.root = local.signed('manifest.json');

  before = new Map();
  for (const c of cases) before.set(c.name, await tree(c.name === 'https-other-host' ? httpsDir : c.root));
  before.set('outside', await tree(path.join(tmp, 'corpus', 'outside')));

  const jobs: (() => Promise<void>)[] = [];
  for (const c of cases) {
    for (const cmd of COMMANDS) {
      const key = `${c.name} ${cmd}`;
      jobs.push(async () => {
        const hits = remote.requests.length;
        runs.set(key, await runCli(key, argsFor(c, cmd)));
        remoteHits.set(key, remote.requests.length - hits);
      });
    }
    if (c.skipReason) {
      const key = `${c.name} convert skip`;
      jobs.push(async () => void runs.set(key, await runCli(key, argsFor(c, 'convert', ['--on-error', 'skip']))));
    }
  }
  // Only the https case's runs can reach the other host, so a count per run is exact enough: any hit fails.
  await pool(jobs, 2);
}, 900_000);

afterAll(async () => {
  await Promise.all([local?.stop(), remote?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('frame limits keep legit frames', () => {
  it('HiDPI (2x, 3x), downscaled and 8K frames pass; 30000x30000 and 5x the viewport do not', () => {
    const vp = { w: 1440, h: 900 };
    expect(frameSizeProblem(2880, 1800, vp, DEFAULT_LIMITS)).toBeUndefined();
    expect(frameSizeProblem(4320, 2700, vp, DEFAULT_LIMITS)).toBeUndefined();
    expect(frameSizeProblem(720, 450, vp, DEFAULT_LIMITS)).toBeUndefined();
    expect(frameSizeProblem(7680, 4320, { w: 3840, h: 2160 }, DEFAULT_LIMITS)).toBeUndefined();
    expect(frameSizeProblem(30000, 30000, vp, DEFAULT_LIMITS)).toMatch(/over the limit of 67108864 \(--max-frame-pixels\)/);
    expect(frameSizeProblem(7200, 4500, vp, DEFAULT_LIMITS)).toMatch(
      /5 times its 1440x900 viewport, over the limit of 4 \(--max-frame-scale\)/,
    );
  });
});

describe('hostile inputs', () => {
  it('the corpus covers every class of the issue', () => {
    expect(cases.map((c) => c.name).sort()).toEqual([
      'arrow-bad-json-text',
      'bad-json-line',
      'bad-manifest',
      'deep-json-line',
      'deep-json-parquet-column',
      'deep-json-text-column',
      'deep-manifest',
      'deep-wds-member',
      'file-url-frame',
      'frame-30000px-passthrough',
      'gz-line-3gib',
      'https-other-host',
      'long-line-lowered-limit',
      'manifest-file-url',
      'parquet-bad-json-text',
      'symlink-data-file',
      'symlink-frame',
      'tar-member-2gib',
      'tar-member-lowered-limit',
      'wds-bad-json-member',
      'wds-bad-sidecar-line',
      'wds-sidecar-out-of-order',
    ]);
  });

  const names = [
    'file-url-frame',
    'symlink-frame',
    'symlink-data-file',
    'manifest-file-url',
    'https-other-host',
    'bad-json-line',
    'bad-manifest',
    'wds-bad-json-member',
    'wds-bad-sidecar-line',
    'arrow-bad-json-text',
    'deep-json-line',
    'deep-json-text-column',
    'deep-manifest',
    'deep-wds-member',
    'gz-line-3gib',
    'tar-member-2gib',
    'long-line-lowered-limit',
    'tar-member-lowered-limit',
    'frame-30000px-passthrough',
    'wds-sidecar-out-of-order',
    'parquet-bad-json-text',
    'deep-json-parquet-column',
  ];
  describe.each(names)('%s', (name) => {
    it.each(COMMANDS)('%s: exit 1, one line naming the file and position, no secret, nothing written, bounded memory', async (cmd) => {
      const c = cases.find((x) => x.name === name)!;
      const r = runs.get(`${name} ${cmd}`)!;
      const all = r.stdout + r.stderr;
      expect(r.code, all).toBe(1);
      expect(all).not.toMatch(/\n\s+at |RangeError|internal error/);
      expect(all).not.toContain(SECRET);
      // One line names the file and the position (validate reports it as a finding on stdout).
      const lines = (cmd === 'validate' ? all : r.stderr).split('\n');
      expect(
        lines.some((l) => l.includes(c.file) && (c.position === undefined || l.includes(c.position))),
        all,
      ).toBe(true);
      if (cmd !== 'validate') for (const l of r.stderr.trim().split('\n')) expect(l).toMatch(/^nusomi-hf: /);
      expect(r.cwdFiles).toEqual([]);
      expect(r.outFiles).toEqual([]);
      expect(r.rssKiB, `peak RSS ${r.rssKiB} KiB`).toBeGreaterThan(0);
      expect(r.rssKiB / 1024).toBeLessThan(c.rssMiB);
      if (name === 'https-other-host') expect(remoteHits.get(`${name} ${cmd}`)).toBe(0);
    });
  });

  it('nothing under the export roots or outside them changed', async () => {
    for (const c of cases) {
      if (c.name === 'https-other-host') continue;
      expect(await tree(c.root), c.name).toEqual(before.get(c.name));
    }
    expect(await tree(path.join(tmp, 'corpus', 'outside'))).toEqual(before.get('outside'));
  });

  it.each(['file-url-frame', 'symlink-frame', 'https-other-host', 'bad-json-line', 'deep-json-line', 'frame-30000px-passthrough'])(
    'convert --on-error skip counts %s as a skip and converts the other rows',
    async (name) => {
      const c = cases.find((x) => x.name === name)!;
      const r = runs.get(`${name} convert skip`)!;
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      const m = JSON.parse(await readFile(path.join(r.out, 'dataset-manifest.json'), 'utf8')) as {
        skipped: { count: number; reasons: Record<string, number> };
        splits: Record<string, { rows: number }>;
      };
      expect(m.skipped).toEqual({ count: 1, reasons: { [c.skipReason!]: 1 }, files: [] });
      expect(Object.values(m.splits).reduce((n, s) => n + s.rows, 0)).toBe(3);
      // The secret file outside the export (its bytes end in SECRET) was not copied in.
      for (const f of r.outFiles) {
        const bytes = await readFile(path.join(r.out, f.slice(0, f.lastIndexOf(' '))));
        expect(bytes.includes(SECRET), f).toBe(false);
      }
      expect(r.rssKiB / 1024).toBeLessThan(c.rssMiB);
    },
  );

  it('--allow-remote-frames lets a named host in, and convert records it in dataset-manifest.json', async () => {
    const c = cases.find((x) => x.name === 'https-other-host')!;
    const hits = remote.requests.length;
    const r = await runCli('https allowed', argsFor(c, 'convert', ['--allow-remote-frames', '127.0.0.2']));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(remote.requests.length).toBeGreaterThan(hits);
    const m = JSON.parse(await readFile(path.join(r.out, 'dataset-manifest.json'), 'utf8')) as { options: Record<string, unknown> };
    expect(m.options.allow_remote_frames).toEqual(['127.0.0.2']);
    expect(m.options.input_limits).toEqual({
      max_line_bytes: DEFAULT_LIMITS.maxLineBytes,
      max_member_bytes: DEFAULT_LIMITS.maxMemberBytes,
      max_json_depth: DEFAULT_LIMITS.maxJsonDepth,
      max_frame_pixels: DEFAULT_LIMITS.maxFramePixels,
      max_frame_scale: DEFAULT_LIMITS.maxFrameScale,
    });
    // validate takes the line limit for a dataset's jsonl files too.
    const v = await runCli('validate lowered line', ['validate', r.out, '--max-line-bytes', '100']);
    // It is a finding on that file (validate reports every file), naming the file and the line.
    expect(v.code, v.stdout + v.stderr).toBe(1);
    expect(v.stdout).toMatch(
      /rows\.unreadable[\s\S]*jsonl\/\w+-00000\.jsonl[\s\S]*line 1: line longer than 100 bytes, over the limit of 100 \(--max-line-bytes\)/,
    );
  }, 120_000);

  it('a bad limit flag is a usage error (exit 2), and --help names every limit', async () => {
    const bad = await runCli('bad flag', ['inspect', cases[0]!.root, '--max-line-bytes', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-line-bytes expects a size like 64MiB');
    for (const cmd of COMMANDS) {
      const help = await runCli(`help ${cmd}`, [cmd, '--help']);
      for (const flag of [
        '--max-line-bytes',
        '--max-member-bytes',
        '--max-json-depth',
        '--max-frame-pixels',
        '--max-frame-scale',
        '--allow-remote-frames',
      ]) {
        expect(help.stdout, `${cmd} --help`).toContain(flag);
      }
    }
  }, 120_000);
});
