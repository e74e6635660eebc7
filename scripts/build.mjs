/**
 * Bundles the CLI into dist/cli and the library (src/index.ts, what `import 'nusomi-hf'` loads)
 * into dist/lib with its type declarations in dist/types (run by `npm ci` and `npm pack` through
 * the `prepare` script, and before `npm run bench`). An installed package runs plain JavaScript:
 * no tsx, no TypeScript.
 * bin/nusomi-hf.js runs this bundle while it is newer than every file under src/,
 * and the TypeScript through tsx otherwise: the bundle starts ~0.25 s sooner (no per-module
 * transpiling), an edit to src never runs stale code, and nothing needs a build to work.
 *
 * dist/cli sits two folders below the repo root like src/<module>/, so the few paths taken
 * relative to a module (package.json, loaders/ templates, resolving sharp) stay valid. Worker
 * threads' modules (the `*.worker.ts` files under src/) are entry points of their own,
 * `dist/cli/<name>.js`, where src/worker-file.ts starts them from.
 * Plain JavaScript: it runs before anything else is set up.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const workers = readdirSync(path.join(root, 'src'), { recursive: true })
  .filter((f) => f.endsWith('.worker.ts'))
  .map((f) => ({ in: path.join(root, 'src', f), out: path.basename(f, '.ts') }));

// The library first: the CLI's BUILT stamp, written last, then marks a whole build.
const lib = path.join(root, 'dist', 'lib');
rmSync(lib, { recursive: true, force: true });
await bundle(path.join(root, 'src/index.ts'), lib);
const types = path.join(root, 'dist', 'types');
rmSync(types, { recursive: true, force: true });
// Declarations of src/index.ts and what its types reach, by the project's own compiler.
const tsPackage = createRequire(import.meta.url).resolve('typescript/package.json');
const tsc = path.join(path.dirname(tsPackage), JSON.parse(readFileSync(tsPackage, 'utf8')).bin.tsc);
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' });

const out = path.join(root, 'dist', 'cli');
rmSync(out, { recursive: true, force: true });
await bundle(path.join(root, 'src/cli/main.ts'), out);
// Written last: a build that failed half-way leaves no stamp, so bin/ falls back to tsx.
writeFileSync(path.join(out, 'BUILT'), `${Date.now()}\n`);

/** One entry point and the worker modules beside it (src/worker-file.ts starts them from there). */
async function bundle(entry, outdir) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [entry, ...workers],
    outdir,
    bundle: true,
    // Lazy imports stay lazy (separate chunks): a command loads only what it uses.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Dependencies load from node_modules as usual; only our own modules are bundled.
    packages: 'external',
    logLevel: 'warning',
  });
}
