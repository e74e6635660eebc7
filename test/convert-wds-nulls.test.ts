/**
 * datasets' webdataset loader infers the `.json` schema from the first 5 samples of the first shard.
 * An export whose first session lacks optional fields (no tags/outcome/actor/path/started_at, null
 * dom) must still load: our `.json` layout keeps every nullable value as JSON text.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliSync } from './helpers/cli.ts';
import { repoRoot, runPython } from './helpers/python.ts';

/** The fields of a sample JSONL line this setup edits. */
interface SampleLine {
  session_id: unknown;
  context: Record<string, unknown>;
  frame: Record<string, unknown>;
}

let work: string;
let out: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'nusomi-wds-nulls-'));
  const exp = path.join(work, 'export');
  cpSync(path.join(repoRoot, 'samples/jsonl'), exp, { recursive: true });
  const dataDir = path.join(exp, 'data');
  const first = readdirSync(dataDir)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()[0]!;
  const file = path.join(dataDir, first);
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SampleLine);
  const firstSession = lines[0]!.session_id;
  for (const row of lines) {
    if (row.session_id !== firstSession) continue;
    for (const k of ['outcome', 'tags', 'path', 'started_at', 'actor']) delete row.context[k];
    row.frame.dom = null;
    row.frame.accessibility_tree = null;
  }
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  out = path.join(work, 'out');
  const r = runCliSync(['convert', exp, '--out', out, '--formats', 'webdataset', '--split', 'train=1', '--shard-samples', '1000']);
  if (r.code !== 0) throw new Error(r.stderr);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("WebDataset .json layout survives datasets' first-5-sample inference", () => {
  it('loads every row although the first session has no tags, outcome, actor, path, started_at or dom', async () => {
    const shards = readdirSync(path.join(out, 'webdataset'))
      .filter((f) => f.endsWith('.tar'))
      .map((f) => path.join(out, 'webdataset', f));
    const r = await runPython<{ rows: number; first: Record<string, unknown>; later: Record<string, unknown> }>(
      `
import json, sys
from datasets import load_dataset
ds = load_dataset("webdataset", data_files={"train": json.loads(sys.argv[1])}, split="train")
rows = list(ds)
ctx = [json.loads(r["json"]["context"]) for r in rows]
print(json.dumps({"rows": len(rows), "first": ctx[0], "later": ctx[-1],
                  "dom0": json.loads(rows[0]["json"]["dom"])}))
`,
      { args: [JSON.stringify(shards)] },
    );
    expect(r.rows).toBe(77);
    expect(r.first).toMatchObject({ tags: null, outcome: null, outcome_id: null, actor_kind: null, path: null, started_at: null });
    expect(r.later.tags).toEqual(expect.any(Array));
    expect(typeof r.later.outcome).toBe('string');
  });
});
