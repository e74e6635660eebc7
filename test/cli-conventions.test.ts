/**
 * The command line behaves like the tools users know: `--version`, one-line usage errors with a
 * pointer to `--help`, system errors (missing file, busy port, a file where a folder belongs, an
 * unwritable --out) as one line naming the path with exit 1, never a stack trace or exit 70;
 * `-o`, `--quiet`, `--verbose` everywhere; help that shows real defaults, choices and exit codes.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirs, mkdirsSync } from '../src/mkdirs.ts';
import { SAMPLE, listFiles, runCli, tempDir } from './convert-fixtures.ts';
import { repoRoot } from './helpers/python.ts';

let tmp: string;

beforeAll(async () => {
  tmp = await tempDir('nusomi-cli-');
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

describe('--version and usage errors', () => {
  it('--version prints the package version on one line', async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
      expect(r.stderr).toBe('');
    }
  });

  it('<cmd> --bad-flag prints at most 3 lines: the error and a pointer to --help, exit 2', async () => {
    const commands = [
      ['inspect', 'x'],
      ['convert', 'x', '-o', 'y'],
      ['push', 'x', '--repo', 'a/b'],
      ['validate', 'x'],
      ['loaders', 'x', '-o', 'y'],
      ['hub', 'serve'],
      [],
    ];
    const runs = await Promise.all(commands.map((c) => runCli([...c, '--bad-flag'])));
    runs.forEach((r, i) => {
      const all = lines(r.stdout + r.stderr);
      expect(all.length, `${commands[i]!.join(' ')}: ${all.join(' | ')}`).toBeLessThanOrEqual(3);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("nusomi-hf: error: unknown option '--bad-flag'");
      const name = [
        'nusomi-hf',
        ...commands[i]!.filter(
          (w) => /^[a-z]+$/.test(w) && ['inspect', 'convert', 'push', 'validate', 'loaders', 'hub', 'serve'].includes(w),
        ),
      ].join(' ');
      expect(r.stderr).toContain(`(see '${name} --help')`);
      expect(r.stdout + r.stderr).not.toContain('Usage:');
    });
  });

  it('bad values are one line plus the pointer: --formats ",", a missing --out, validate --decode', async () => {
    const [formats, out, decode, unknownFormat] = await Promise.all([
      runCli(['convert', SAMPLE, '-o', path.join(tmp, 'f'), '--formats', ',']),
      runCli(['convert', SAMPLE]),
      runCli(['validate', SAMPLE, '--decode', 'all']),
      runCli(['convert', SAMPLE, '-o', path.join(tmp, 'f'), '--formats', 'parquet,csv']),
    ]);
    for (const r of [formats, out, decode, unknownFormat]) {
      expect(r.code).toBe(2);
      expect(lines(r.stderr)).toHaveLength(2);
      expect(r.stderr).toMatch(/\(see 'nusomi-hf (convert|validate) --help'\)\n$/);
    }
    // "," used to mean parquet silently.
    expect(formats.stderr).toContain('No format given');
    expect(unknownFormat.stderr).toContain('Unknown format "csv"; expected parquet, arrow, jsonl, webdataset');
    expect(decode.stderr).toContain('Allowed choices are header, full');
  });

  it('--split errors show the same syntax as --help', async () => {
    const [help, bad] = await Promise.all([
      runCli(['convert', '--help']),
      runCli(['convert', SAMPLE, '-o', path.join(tmp, 's'), '--split', 'train']),
    ]);
    const flat = help.stdout.replace(/\s+/g, ' ');
    expect(flat).toContain('train=0.9,validation=0.05,test=0.05');
    expect(flat).toContain('train=*,test=onboarding|refund');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected e.g. train=0.9,validation=0.05,test=0.05, or with --split-by train=*,test=onboarding|refund');
  });
});

describe('system errors are one line naming the path, exit 1, no stack trace', () => {
  it('--labels-from a missing file', async () => {
    const missing = path.join(tmp, 'no-such-manifest.json');
    const r = await runCli(['convert', SAMPLE, '-o', path.join(tmp, 'labels'), '--labels-from', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`nusomi-hf: error: ${missing}: does not exist\n`);
  });

  it('hub serve on a busy port, and with --dir naming a file', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    const file = path.join(tmp, 'a-file');
    await writeFile(file, 'x');
    try {
      const [onBusy, onFile] = await Promise.all([
        runCli(['hub', 'serve', '--port', String(port), '--dir', path.join(tmp, 'hub')]),
        runCli(['hub', 'serve', '--dir', file]),
      ]);
      expect(onBusy.code).toBe(1);
      expect(onBusy.stderr).toBe(
        `nusomi-hf: error: cannot listen on 127.0.0.1:${port}: address already in use (another process listens there; pick another --port, or 0 for a free one) (EADDRINUSE)\n`,
      );
      expect(onFile.code).toBe(1);
      expect(lines(onFile.stderr)).toHaveLength(1);
      expect(onFile.stderr).toContain(`${file}/`);
      expect(onFile.stderr).toContain('a part of the path is a file, not a folder (ENOTDIR)');
    } finally {
      busy.close();
    }
  });

  it('convert --out and hub serve --dir under /proc end at once (they used to spin in a mkdir loop)', async () => {
    const [convert, nested, serve] = await Promise.all([
      runCli(['convert', SAMPLE, '-o', '/proc/nusomi-x']),
      runCli(['convert', SAMPLE, '-o', '/proc/nusomi-x/y']),
      runCli(['hub', 'serve', '--dir', '/proc/nusomi-y']),
    ]);
    // convert takes its lock beside --out first (making --out's parents): one line naming the path.
    expect(convert.code).toBe(1);
    expect(convert.stderr).toBe(
      'nusomi-hf: error: --out /proc/nusomi-x: cannot create the lock file /proc/.nusomi-x.nusomi-lock (ENOENT)\n',
    );
    expect(nested.code).toBe(1);
    expect(nested.stderr).toBe(
      'nusomi-hf: error: cannot create folder /proc/nusomi-x: its parent does not exist or takes no new folders (ENOENT)\n',
    );
    expect(serve.code).toBe(1);
    expect(serve.stderr).toBe(
      'nusomi-hf: error: cannot create folder /proc/nusomi-y: its parent does not exist or takes no new folders (ENOENT)\n',
    );
  }, 30_000);

  it('mkdirs ends with the error where recursive mkdir loops, and makes missing parents', async () => {
    await expect(mkdirs('/proc/nusomi-x/y')).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => mkdirsSync('/proc/nusomi-x/y')).toThrow(/ENOENT/);
    const deep = path.join(tmp, 'a/b/c');
    await mkdirs(deep);
    await mkdirs(deep);
    mkdirsSync(path.join(tmp, 'a/b/d'));
    expect(await readdir(path.join(tmp, 'a/b'))).toEqual(['c', 'd']);
    await writeFile(path.join(tmp, 'plain'), '');
    await expect(mkdirs(path.join(tmp, 'plain/x'))).rejects.toMatchObject({ code: 'ENOTDIR' });
  });

  it('a nonexistent input path says "does not exist" for every command', async () => {
    const gone = path.join(tmp, 'gone');
    const runs = await Promise.all([
      runCli(['inspect', gone]),
      runCli(['convert', gone, '-o', path.join(tmp, 'x')]),
      runCli(['push', gone, '--repo', 'a/b', '--dry-run']),
    ]);
    for (const r of runs) {
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`nusomi-hf: error: ${gone}: does not exist\n`);
    }
    // validate reports it as its own check, like every target it cannot check whole.
    const v = await runCli(['validate', gone]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain('target.not_found');
    expect(v.stdout).toContain(`${gone}: does not exist`);
  });
});

describe('conventional flags and output', () => {
  it('help shows real defaults, the choices of --decode, the output flags and the exit codes', async () => {
    const [top, convert, validate, serve] = await Promise.all([
      runCli(['--help']),
      runCli(['convert', '--help']),
      runCli(['validate', '--help']),
      runCli(['hub', 'serve', '--help']),
    ]);
    const flat = (s: string) => s.replace(/\s+/g, ' ');
    expect(flat(convert.stdout)).toContain('jsonl, webdataset (default: parquet)');
    expect(convert.stdout).not.toContain('[]');
    expect(convert.stdout).toMatch(/-o, --out <dir>/);
    expect(flat(validate.stdout)).toContain('(choices: "header", "full", default: "header")');
    for (const h of [top, convert, validate, serve]) {
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/^Exit codes:\n {2}0 +success\n {2}1 +bad input.*\n {2}2 +usage error.*\n {2}70 +internal error/m);
    }
    for (const h of [convert, validate, serve]) {
      expect(h.stdout).toContain('-q, --quiet');
      expect(h.stdout).toContain('--verbose');
    }
    // The Hub server's default storage is outside the working tree.
    expect(flat(serve.stdout)).toMatch(/--dir <dir> storage directory \(default: "[^"]*\/nusomi-hf\/hub"\)/);
    expect(flat(serve.stdout)).not.toContain('".hub"');
  });

  it('-o writes the dataset; --quiet prints nothing; --verbose lists every file; plurals and the real file count', async () => {
    const out = path.join(tmp, 'o');
    // A split with one session: "1 session", not "1 sessions".
    const split = ['--split', 'train=0.8,validation=0.1,test=0.1', '--seed', '0'];
    const [normal, quiet, verbose] = await Promise.all([
      runCli(['convert', SAMPLE, '-o', out, ...split]),
      runCli(['convert', SAMPLE, '-o', path.join(tmp, 'q'), '-q', ...split]),
      runCli(['convert', SAMPLE, '-o', path.join(tmp, 'v'), '--verbose', '--formats', 'parquet,webdataset', ...split]),
    ]);
    expect(normal.code).toBe(0);
    const files = await listFiles(out);
    expect(normal.stdout).toMatch(new RegExp(`^wrote ${files.length} files \\(`, 'm'));
    expect(normal.stdout).toMatch(/^ {2}validation +20 rows +1 session$/m);
    expect(normal.stdout).not.toMatch(/\b1 sessions\b/);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr).toBe('');
    expect((await listFiles(path.join(tmp, 'q'))).length).toBe(files.length);
    expect(verbose.code).toBe(0);
    const listed = lines(verbose.stderr).filter((l) => /^ {2}\S+ \(\d+ bytes\)$/.test(l));
    const manifest = JSON.parse(await readFile(path.join(tmp, 'v', 'dataset-manifest.json'), 'utf8')) as { files: { path: string }[] };
    expect(listed.map((l) => l.trim().split(' ')[0])).toEqual(manifest.files.map((f) => f.path));
    const [both] = await Promise.all([runCli(['inspect', SAMPLE, '-q', '--verbose'])]);
    expect(both.code).toBe(2);
  });

  it('a 0-byte frame says "empty file"', async () => {
    const root = path.join(tmp, 'empty-frame');
    await mkdir(root);
    await Promise.all(
      (await readdir(SAMPLE, { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile())
        .map(async (e) => {
          const rel = path.relative(SAMPLE, path.join(e.parentPath, e.name));
          await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
          await writeFile(path.join(root, rel), await readFile(path.join(SAMPLE, rel)));
        }),
    );
    const frame = (await listFiles(root)).find((f) => f.endsWith('.webp'))!;
    await writeFile(path.join(root, frame), '');
    const [inspect, convert] = await Promise.all([runCli(['inspect', root]), runCli(['convert', root, '-o', path.join(tmp, 'ef')])]);
    expect(inspect.code).toBe(1);
    expect(inspect.stdout).toContain(`frame ${frame} is not a readable image (empty file: 0 bytes)`);
    expect(convert.code).toBe(1);
    expect(convert.stderr).toMatch(new RegExp(`^nusomi-hf: error: .*cannot decode frame image ${frame}: empty file: 0 bytes\\n$`));
  });
});
