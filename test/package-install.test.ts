/**
 * The package as a user installs it: `npm pack` (which runs the build), the tarball installed into
 * an empty project (dependencies from npm's cache, else the registry), then
 *  - test/package/consumer.mjs run with plain `node`, tsx and TypeScript removed from the project;
 *  - test/package/consumer.ts compiled with `tsc --strict` against the shipped declarations;
 *  - every file under the package's src/ and dist/ refused by `import` (only the entry point is exported).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/python.ts';

const SAMPLE = path.join(repoRoot, 'samples', 'parquet');
let work: string;
let app: string;
let installed: string;

/** An environment without this repo's loaders (vitest's, tsx's): the child is a plain `node`. */
function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'TSX_TSCONFIG_PATH') delete env[k];
  return env;
}

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, env: plainEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'package-install-'));
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], repoRoot)) as Array<{ filename: string }>;
  const tarball = path.join(work, packed[0]!.filename);
  app = path.join(work, 'app');
  execFileSync('mkdir', [app]);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], app);
  installed = path.join(app, 'node_modules', 'nusomi-hf');
  // What the library must not need at run time.
  for (const dev of ['tsx', 'typescript', 'esbuild']) rmSync(path.join(app, 'node_modules', dev), { recursive: true, force: true });
  for (const f of ['consumer.mjs', 'consumer.ts']) copyFileSync(path.join(repoRoot, 'test', 'package', f), path.join(app, f));
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('runs a plain node program: open the sample, convert, validate, serve a Hub, push to it', () => {
    const out = run(process.execPath, ['consumer.mjs', SAMPLE, path.join(work, 'run')], app);
    const r = JSON.parse(out) as Record<string, Record<string, unknown>>;
    expect(r.openExport).toMatchObject({ rows: 77, sessions: 8 });
    expect(r.openExport!.first_frame_bytes).toBeGreaterThan(1000);
    expect(r.convert).toMatchObject({ out: path.join(work, 'run', 'dataset'), formats: ['parquet', 'webdataset'] });
    expect((r.convert!.data_files as Array<{ path: string }>).some((f) => f.path.startsWith('webdataset/'))).toBe(true);
    expect(r.validate).toMatchObject({ kind: 'dataset', clean: true, errors: 0 });
    expect(r.serveHub!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out).not.toMatch(/hf_[A-Za-z0-9]/);
    expect(r.push).toMatchObject({ repo: 'acme/from-node', created_repo: true, tag: 'v1', dry_run: false });
    expect(r.push!.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(r.push!.uploaded_files).toBeGreaterThan(0);
    expect(r.abortConvert).toMatchObject({ thrown: { name: 'AbortError', isAbortError: true }, leftBehind: false, rerunManifest: true });
    expect(r.abortConvert!.phases).toContain('write');
    expect(r.abortConvert!.rerunRows).toBe(r.openExport!.rows);
    expect(r.badInput).toMatchObject({ thrown: 'InputError', isInputError: true, file: path.join(work, 'run', 'missing') });
  });

  it('compiles a TypeScript consumer with tsc --strict against the shipped declarations', () => {
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          noEmit: true,
          skipLibCheck: false,
          // @types/node from this repo: the consumer's own, in a real project.
          typeRoots: [path.join(repoRoot, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsPackage = path.join(repoRoot, 'node_modules', 'typescript', 'package.json');
    const tsc = path.join(path.dirname(tsPackage), (JSON.parse(readFileSync(tsPackage, 'utf8')) as { bin: { tsc: string } }).bin.tsc);
    let output = '';
    try {
      output = run(process.execPath, [tsc, '-p', 'tsconfig.json', '--strict'], app);
    } catch (err) {
      output = String((err as { stdout?: string }).stdout ?? err);
    }
    expect(output).toBe('');
  });

  it('exports only the entry point: no file under src/ or dist/ is importable', () => {
    const files = ['src', 'dist'].flatMap((d) =>
      (readdirSync(path.join(installed, d), { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
        .filter((e) => e.isFile())
        .map((e) => path.relative(installed, path.join(e.parentPath, e.name))),
    );
    expect(files).toContain('src/convert/convert.ts');
    expect(files).toContain('dist/lib/index.js');
    const probe = `
      const codes = {};
      for (const f of JSON.parse(process.argv[2])) {
        try { await import('nusomi-hf/' + f); codes[f] = 'imported'; } catch (e) { codes[f] = e.code; }
      }
      const entry = await import('nusomi-hf');
      console.log(JSON.stringify({ codes, entry: import.meta.resolve('nusomi-hf'), names: Object.keys(entry).sort() }));`;
    writeFileSync(path.join(app, 'probe.mjs'), probe);
    const r = JSON.parse(run(process.execPath, ['probe.mjs', JSON.stringify(files)], app)) as {
      codes: Record<string, string>;
      entry: string;
      names: string[];
    };
    expect(new Set(Object.values(r.codes))).toEqual(new Set(['ERR_PACKAGE_PATH_NOT_EXPORTED']));
    expect(r.entry).toMatch(/\/node_modules\/nusomi-hf\/dist\/lib\/index\.js$/);
    expect(r.names).toEqual([
      'AbortError',
      'InputError',
      'IntegrityError',
      'NusomiError',
      'RemoteError',
      'ServedHub',
      'UsageError',
      'convert',
      'convertPartition',
      'finalizeConvert',
      'generateLoaders',
      'inspect',
      'openExport',
      'planConvert',
      'push',
      'report',
      'serveHub',
      'validate',
    ]);
  });
});
