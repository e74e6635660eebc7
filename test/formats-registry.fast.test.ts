/**
 * One registry of output formats (src/formats/registry.ts): every consumer reads it, each format
 * module is complete and consistent with itself (its shard names are data files of its own kind,
 * under its folder, matched by its card glob), and no other module keeps its own list of formats.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_FORMATS as CONVERT_FORMATS } from '../src/convert/formats.ts';
import { OWNED_ENTRIES } from '../src/convert/output.ts';
import { FORMAT_NAMES, formatModule, formatModules, formatOfPath, isOutputFormat } from '../src/formats/registry.ts';
import { configFormat, configName } from '../src/hf/card.ts';
import { ALL_FORMATS as PUSH_FORMATS, MANAGED_FOLDERS, isManaged } from '../src/hub/plan.ts';
import { FORMAT_ORDER, formatOf } from '../src/validate/completeness.ts';

/** A card `data_files` glob as a regex (`*` within one path segment). */
const globRegex = (g: string): RegExp =>
  new RegExp(
    `^${g
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*')}$`,
  );

describe('output-format registry', () => {
  it('convert, push and validate list the registry formats in its order', () => {
    expect([...FORMAT_NAMES]).toEqual(['parquet', 'arrow', 'jsonl', 'webdataset']);
    expect(CONVERT_FORMATS).toEqual(FORMAT_NAMES);
    expect(PUSH_FORMATS).toEqual(FORMAT_NAMES);
    expect(FORMAT_ORDER).toEqual(FORMAT_NAMES);
    expect(formatModules().map((m) => m.name)).toEqual(FORMAT_NAMES);
    expect(isOutputFormat('csv')).toBe(false);
    expect(FORMAT_NAMES.every(isOutputFormat)).toBe(true);
  });

  it.each(FORMAT_NAMES.map((n) => [n]))(
    '%s: its shard names are its own data files, under its folder, owned by convert and push',
    (name) => {
      const m = formatModule(name);
      expect(m.name).toBe(name);
      expect(m.folder).toMatch(/^[a-z]+\/$/);
      expect(MANAGED_FOLDERS).toContain(m.folder);
      expect(OWNED_ENTRIES.has(m.folder.slice(0, -1))).toBe(true);
      for (const [split, i, n] of [
        ['train', 0, 1],
        ['validation', 3, 12],
        ['test.easy', 0, 2],
      ] as const) {
        const p = m.shardPath(split, i, n);
        expect(p.startsWith(m.folder), p).toBe(true);
        expect(m.dataFile.test(p), p).toBe(true);
        expect(formatOfPath(p)).toBe(name);
        expect(formatOf(p)).toBe(name);
        expect(isManaged(p)).toBe(true);
        if (m.card) expect(globRegex(m.card.glob(split)).test(p), `${m.card.glob(split)} ~ ${p}`).toBe(true);
      }
      // No other format claims its files.
      for (const other of formatModules()) if (other !== m) expect(other.dataFile.test(m.shardPath('train', 0, 1))).toBe(false);
    },
  );

  it('shard names: -of-N for Parquet and Arrow, a 5-digit index for JSONL, webdataset convention for tars (unchanged)', () => {
    expect(formatModule('parquet').shardPath('train', 1, 12)).toBe('data/train-00001-of-00012.parquet');
    expect(formatModule('arrow').shardPath('train', 1, 12)).toBe('arrow/train/data-00001-of-00012.arrow');
    expect(formatModule('jsonl').shardPath('train', 1, 12)).toBe('jsonl/train-00001.jsonl');
    expect(formatModule('webdataset').shardPath('train', 1, 12)).toBe('webdataset/train-000001.tar');
  });

  it('the card declares the lowest-ranked config format of the registry, under its module config name', () => {
    expect(configFormat(['jsonl', 'webdataset', 'arrow'])).toBe('arrow');
    expect(configFormat(['webdataset', 'jsonl'])).toBe('webdataset');
    expect(configFormat(['jsonl'])).toBe('jsonl');
    expect(configName('jsonl')).toBe('default');
    expect(configName('parquet')).toBe('default');
    expect(configName('webdataset')).toBe('webdataset');
  });

  it('every format loads a writer and a validator', async () => {
    for (const m of formatModules()) {
      expect(typeof (await m.writer())).toBe('function');
      expect(typeof (await m.validator())).toBe('function');
    }
  });

  it('no module outside src/formats keeps its own list of the output formats', async () => {
    const src = path.join(import.meta.dirname, '..', 'src');
    const lists: string[] = [];
    const names = /(['"`])(parquet|arrow|jsonl|webdataset)\1/g;
    for (const rel of await readdir(src, { recursive: true })) {
      if (!rel.endsWith('.ts') || rel.startsWith(`formats${path.sep}`)) continue;
      const lines = (await readFile(path.join(src, rel), 'utf8')).split('\n');
      lines.forEach((line, i) => {
        // Export (input) formats are another list: the vendor's, in src/export.
        if (/ExportFormat/.test(line)) return;
        const found = new Set([...line.matchAll(names)].map((m) => m[2]));
        if (found.size >= 3) lists.push(`${rel}:${i + 1}: ${line.trim()}`);
        // A record keyed by format, one key per line (`parquet: 'data/',`).
        if (/^\s*(parquet|arrow|jsonl|webdataset):\s*['"`]/.test(line)) lists.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(lists).toEqual([]);
  });
});
