/**
 * Bundles the CLI into dist/cli (run by `npm ci` through the `prepare` script, and before
 * `npm run bench`). bin/nusomi-hf.js runs this bundle while it is newer than every file under src/,
 * and the TypeScript through tsx otherwise: the bundle starts ~0.25 s sooner (no per-module
 * transpiling), an edit to src never runs stale code, and nothing needs a build to work.
 *
 * dist/cli sits two folders below the repo root like src/<module>/, so the few paths taken
 * relative to a module (package.json, loaders/ templates, resolving sharp) stay valid. Worker
 * threads' modules (the `*.worker.ts` files under src/) are entry points of their own,
 * `dist/cli/<name>.js`, where src/worker-file.ts starts them from.
 * Plain JavaScript: it runs before anything else is set up.
 */
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'cli');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [
    path.join(root, 'src/cli/main.ts'),
    ...readdirSync(path.join(root, 'src'), { recursive: true })
      .filter((f) => f.endsWith('.worker.ts'))
      .map((f) => ({ in: path.join(root, 'src', f), out: path.basename(f, '.ts') })),
  ],
  outdir: out,
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
// Written last: a build that failed half-way leaves no stamp, so bin/ falls back to tsx.
writeFileSync(path.join(out, 'BUILT'), `${Date.now()}\n`);
