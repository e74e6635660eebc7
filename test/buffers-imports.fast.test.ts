/**
 * The import graph of src/: frame memory has one owner (src/buffers), sources and sinks do not
 * import each other, and worker code lives in typed modules (no source evaluated from strings).
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const SRC = path.join(import.meta.dirname, '..', 'src');
/** src-relative file → its source text and the src-relative files it imports. */
const files = new Map<string, { text: string; imports: string[] }>();

beforeAll(async () => {
  for (const rel of await readdir(SRC, { recursive: true })) {
    if (!rel.endsWith('.ts')) continue;
    const text = await readFile(path.join(SRC, rel), 'utf8');
    const imports: string[] = [];
    // Static imports and re-exports (`from '...'`) and dynamic `import('...')`, relative ones only.
    for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
      imports.push(path.relative(SRC, path.resolve(SRC, path.dirname(rel), m[1]!)));
    }
    files.set(rel, { text, imports });
  }
});

const folder = (rel: string): string => rel.split(path.sep)[0]!;

describe('src/ import graph', () => {
  it('reads the whole tree (the checks below see every module)', () => {
    expect(files.size).toBeGreaterThan(100);
    expect(files.get(path.join('convert', 'write-pass.ts'))!.imports).toContain(path.join('buffers', 'index.ts'));
  });

  it('no module of src/source imports src/sink, and none of src/sink imports src/source', () => {
    const crossing: string[] = [];
    for (const [rel, { imports }] of files) {
      for (const to of imports) {
        const pair = `${folder(rel)}->${folder(to)}`;
        if (pair === 'source->sink' || pair === 'sink->source') crossing.push(`${rel} imports ${to}`);
      }
    }
    expect(crossing).toEqual([]);
  });

  it('only src/buffers makes or looks up shared blocks: others import its index, never shared-block.ts', () => {
    const outside: string[] = [];
    for (const [rel, { text, imports }] of files) {
      if (folder(rel) === 'buffers') continue;
      for (const to of imports) if (to === path.join('buffers', 'shared-block.ts')) outside.push(`${rel} imports ${to}`);
      if (/new SharedArrayBuffer\(/.test(text)) outside.push(`${rel} allocates a SharedArrayBuffer`);
      if (/\b(newSharedBlock|sharedBlockFor|sharedBlockOf)\b/.test(text)) outside.push(`${rel} names a block constructor or lookup`);
    }
    expect(outside).toEqual([]);
    // …and the index does not hand those out.
    const index = files.get(path.join('buffers', 'index.ts'))!.text;
    expect(index).not.toMatch(/\b(newSharedBlock|sharedBlockFor|sharedBlockOf)\b/);
  });

  it('convert releases frames through src/buffers, not through a concrete source', () => {
    const convertImports = [...files].filter(([rel]) => folder(rel) === 'convert').flatMap(([, f]) => f.imports);
    // source/open.ts is the generic opener (a Source of any kind): the partitioned steps read their records through it.
    const concrete = convertImports.filter((to) => folder(to) === 'source' && to !== path.join('source', 'open.ts'));
    expect(concrete).toEqual([]);
  });

  it('worker threads run typed modules (*.worker.ts through worker-file.ts), never code from strings', () => {
    const evaluated = [...files]
      .filter(([rel, f]) => rel !== 'worker-file.ts' && /eval:\s*true|new Worker\(/.test(f.text))
      .map(([rel]) => rel);
    expect(evaluated).toEqual([]);
    const workers = [...files.keys()].filter((rel) => rel.endsWith('.worker.ts')).sort();
    expect(workers).toEqual(
      ['frames/encode.worker.ts', 'sink/hash.worker.ts', 'source/frame-reader.worker.ts', 'validate/frame-decode.worker.ts'].map((p) =>
        p.split('/').join(path.sep),
      ),
    );
  });
});
