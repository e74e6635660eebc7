/**
 * A JSONL row is walked once for its depth limit and its kind (plain, with null-valued keys, not
 * plain JSON) together (normalize.ts `jsonKindWithin`), where parseJsonText and normalizeRow each
 * walked it before: the same rows must be refused with the same message, and every other row must
 * normalise to the same Step as when normalizeRow walks it itself.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readJsonl } from '../src/export/jsonl.ts';
import { normalizeRow } from '../src/export/normalize.ts';
import type { RawItem } from '../src/export/raw.ts';
import { DEFAULT_LIMITS, jsonDeeperThan, parseJsonText } from '../src/limits.ts';
import type { ExportManifest } from '../src/export/manifest-types.ts';
import { LocalSource } from '../src/source/local.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nusomi-jsonl-kind-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function nest(depth: number, leaf: unknown, asArray: boolean): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { k: v };
  return v;
}

function row(extra: Record<string, unknown>, context: Record<string, unknown> = {}): string {
  return JSON.stringify({
    session_id: 'ses_1',
    t_ms: 1,
    frame: { image_url: 'frames/a.webp', viewport: { w: 10, h: 10 }, dom: null },
    action: { type: 'click' },
    context: { workflow: 'w', prior_action: null, ...context },
    ...extra,
  });
}

it('refuses exactly the rows parseJsonText refused, with its message; the rest normalise as before', async () => {
  const limit = 8;
  const lines = [
    row({}),
    row({ a: null, b: [null, { c: null }] }, { actor: { kind: 'human', x: null } }),
    row({ deep: nest(limit - 2, 1, false) }),
    row({ deep: nest(limit - 1, 1, false) }),
    row({ deep: nest(limit - 1, {}, true) }),
    row({ deep: nest(limit, 'x', true) }),
    row({ deep: nest(limit + 3, null, false) }),
    row({ deep: nest(limit - 1, [], false), n: null }),
    // An own "__proto__" key: not plain JSON (normalize copies the row the slow way).
    row({}).replace('{"session_id"', '{"__proto__":{"x":null},"session_id"'),
    row({}).replace('"w"', '{"__proto__":null,"deep":' + JSON.stringify(nest(limit + 1, 1, true)) + '}'),
    JSON.stringify(nest(limit + 1, 1, true)),
    '{"a":',
  ];
  await writeFile(path.join(dir, 'rows.jsonl'), lines.join('\n'));
  const source = new LocalSource(dir);
  const limits = { ...DEFAULT_LIMITS, maxJsonDepth: limit };
  const items: RawItem[] = [];
  for await (const item of readJsonl({ source, path: 'rows.jsonl', name: 'rows.jsonl', limits })) items.push(item);
  expect(items).toHaveLength(lines.length);
  const manifest = { destination: '', raw: {} } as unknown as ExportManifest;
  const ctx = { manifest, source, limits };
  for (const [i, item] of items.entries()) {
    const where = { file: 'rows.jsonl', row: `line ${i + 1}` };
    let before: string | undefined;
    let value: unknown;
    try {
      value = parseJsonText(lines[i]!, limit, where, 'a JSON object');
    } catch (err) {
      before = (err as Error).message;
    }
    if (before === undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) before = 'not an object';
    if (before !== undefined) {
      expect(item.kind, `line ${i + 1}`).toBe('problem');
      if (item.kind === 'problem' && before !== 'not an object') expect(item.error.message).toBe(before);
      continue;
    }
    expect(item.kind, `line ${i + 1}`).toBe('row');
    if (item.kind !== 'row') continue;
    expect(jsonDeeperThan(item.fields, limit)).toBe(false);
    const walkedHere = (() => {
      try {
        return normalizeRow({ ...item, jsonKind: undefined }, ctx);
      } catch (err) {
        return (err as Error).message;
      }
    })();
    const walkedByReader = (() => {
      try {
        return normalizeRow(item, ctx);
      } catch (err) {
        return (err as Error).message;
      }
    })();
    const plain = (s: unknown) => (typeof s === 'string' ? s : { ...(s as object), image: undefined });
    expect(plain(walkedByReader), `line ${i + 1}`).toEqual(plain(walkedHere));
  }
});
