/**
 * parse_action (the generated `sft` loader) inverts every grammar: for every action of the sample
 * export, plus a session with every other action type the vendor emits and masked values, in
 * every grammar × coordinate convention, parse_action(completion) equals the action computed in
 * Python from the `steps` row (pixels of the stored image and its size), coordinates within the
 * rounding of the convention. Text that is not an action is refused without running anything.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../src/export/step.ts';
import { SAMPLE, convertOk, deriveExport, sampleJsonRows } from './convert-fixtures.ts';
import { runPython } from './helpers/python.ts';
import { renderFor } from './loaders.fixture.ts';

const FORMATS = ['pyautogui', 'json', 'function'] as const;
const COORDS = ['norm', 'norm1000', 'pixels'] as const;

let work: string;
let exportDir: string;
let loaders: string;
const outs: Array<{ dir: string; format: string; coords: string }> = [];

/** One more session: every action type the sample lacks, masked values, keys pyautogui renames, awkward text. */
function extraSession(template: JsonObject): JsonObject[] {
  const actions: JsonObject[] = [
    { type: 'right_click', x: 640, y: 80 },
    { type: 'hover', x: 500, y: 250 },
    { type: 'select', target: { role: 'combobox', name: 'Currency' }, x: 410, y: 330, value: 'EUR' },
    { type: 'wait', ms: 500 },
    { type: 'click', x: '[masked]', y: '[masked]' },
    { type: 'input_text', x: 300, y: 200, text: '[masked]' },
    { type: 'input_text', text: 'He said "hi"\n\\ üñí €' },
    { type: 'key', key: 'ArrowUp', modifiers: ['Control', 'Shift'] },
    { type: 'key', key: ' ' },
    { type: 'scroll', x: 700, y: 400, dx: 120, dy: -240 },
    { type: 'scroll', x: 0, y: 0, dx: 0, dy: 0 },
    { type: 'drag', x: 10, y: 20, to: { x: '[masked]', y: '[masked]' } },
    { type: 'drag', x: 1439, y: 899, to: { x: 0, y: 0 } },
    { type: 'navigate', url: 'https://app.example.com/a?b="c"' },
  ];
  const frame = template.frame as JsonObject;
  return actions.map((action, i) => ({
    session_id: 'ses_zzzz_every_type',
    t_ms: 1000 * (i + 1),
    frame: { ...frame },
    action,
    context: { workflow: 'process_invoice', prior_action: null, outcome: 'success' },
  }));
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'sft-parse-'));
  const rows = await sampleJsonRows();
  const wide = rows.find((r) => ((r.frame as JsonObject).viewport as JsonObject).w === 1440)!;
  exportDir = await deriveExport(path.join(work, 'export'), [...rows, ...extraSession(wide)]);
  for (const format of FORMATS) {
    // Conventions of one grammar in parallel; grammars one after another (2 cores shared).
    await Promise.all(
      COORDS.map(async (coords) => {
        const dir = path.join(work, `${format}-${coords}`);
        await convertOk(exportDir, dir, ['--configs', 'steps,sft', '--action-format', format, '--coords', coords, '--split', 'train=1']);
        outs.push({ dir, format, coords });
      }),
    );
  }
  loaders = path.join(work, 'loaders');
  await renderFor({ source: outs[0]!.dir, out: loaders, targets: ['sft'] });
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const ROUND_TRIP = `
import glob, io, json, sys
import pyarrow.parquet as pq
from PIL import Image
sys.path.insert(0, sys.argv[1])
mod = __import__([m[:-3] for m in __import__("os").listdir(sys.argv[1]) if m.endswith("_sft.py")][0])
TOL = {"norm": 0.5e-4 + 1e-9, "norm1000": 0.5 + 1e-9, "pixels": 0}

def expected(a, names, w, h, coords):
    t = names[a["type"]]
    args = json.loads(a["args"])
    to = args["to"] if isinstance(args.get("to"), dict) else {}
    def c(v, masked, size):
        if v is None:
            return "[masked]" if masked == "[masked]" else None
        return v if coords == "pixels" else v / size * (1000 if coords == "norm1000" else 1)
    out = {"action": t}
    if t not in ("key", "navigate", "wait"):
        out["x"], out["y"] = c(a["x"], args.get("x"), w), c(a["y"], args.get("y"), h)
    if t == "drag":
        out["to_x"], out["to_y"] = c(a["to_x"], to.get("x"), w), c(a["to_y"], to.get("y"), h)
    if t == "scroll":
        out["dx"], out["dy"] = a["dx"] or 0, a["dy"] or 0
    if t == "input_text":
        out["text"] = a["text"] or ""
    if t == "select":
        out["text"] = a["text"] if a["text"] is not None else args.get("value")
    if t == "key":
        out["keys"] = (a["modifiers"] or []) + ([a["key"]] if a["key"] is not None else [])
    if t == "navigate":
        out["url"] = a["url"] or ""
    return {k: v for k, v in out.items() if v is not None}

def same(got, want, coords):
    if set(got) != set(want):
        return False
    for k, v in want.items():
        if k in ("x", "y", "to_x", "to_y") and not isinstance(v, str):
            if isinstance(got[k], str) or abs(got[k] - v) > TOL[coords]:
                return False
            if coords != "norm" and not isinstance(got[k], int):
                return False
        elif got[k] != v:
            return False
    return True

report = {}
for spec in json.loads(sys.argv[2]):
    root, fmt, coords = spec["dir"], spec["format"], spec["coords"]
    names = json.load(open(root + "/dataset-manifest.json"))["labels"]["action_type"]
    steps = {}
    for f in sorted(glob.glob(root + "/data/*.parquet")):
        for r in pq.read_table(f, columns=["session_id", "step", "image", "action"]).to_pylist():
            w, h = Image.open(io.BytesIO(r["image"]["bytes"])).size
            steps[(r["session_id"], r["step"])] = expected(r["action"], names, w, h, coords)
    checked, types, bad = 0, set(), []
    for f in sorted(glob.glob(root + "/sft/*.parquet")):
        for r in pq.read_table(f, columns=["session_id", "step", "completion"]).to_pylist():
            text = r["completion"][0]["content"][0]["text"]
            want = steps[(r["session_id"], r["step"])]
            got = mod.parse_action(text, action_format=fmt)
            if not same(got, want, coords):
                bad.append({"text": text, "got": got, "want": want})
            checked += 1
            types.add(want["action"])
    report[fmt + "/" + coords] = {"checked": checked, "rows": len(steps), "types": sorted(types), "bad": bad[:3]}

refused = []
for fmt, text in [
    ("pyautogui", 'pyautogui.click(x=__import__("os").system("touch ' + sys.argv[3] + '"), y=1)'),
    ("pyautogui", '__import__("os").system("touch ' + sys.argv[3] + '")'),
    ("function", 'click(x=open("' + sys.argv[3] + '", "w"), y=1)'),
    ("pyautogui", "import os"),
    ("pyautogui", "pyautogui.click(x=0.1, y=0.2" ),
    ("json", '{"action": "click", "x": 1, "evil": 2}'),
    ("json", "[1, 2]"),
    ("function", "click(" + "1, " * 3000 + ")"),
]:
    try:
        mod.parse_action(text, action_format=fmt)
        refused.append(False)
    except ValueError:
        refused.append(True)
report["refused"] = refused
print(json.dumps(report))
`;

describe('parse_action', () => {
  it('inverts every grammar × coordinate convention for every action of the samples (and every action type)', async () => {
    const canary = path.join(work, 'pwned');
    const report = await runPython<
      Record<string, { checked: number; rows: number; types: string[]; bad: unknown[] }> & { refused: boolean[] }
    >(ROUND_TRIP, { args: [loaders, JSON.stringify(outs), canary] });
    const rows = (await sampleJsonRows()).length + 14;
    for (const format of FORMATS) {
      for (const coords of COORDS) {
        const r = report[`${format}/${coords}`]!;
        expect(r.bad, `${format}/${coords}`).toEqual([]);
        expect(r.checked, `${format}/${coords}`).toBe(rows);
        expect(r.rows).toBe(rows);
        expect(r.types).toEqual(
          ['click', 'double_click', 'drag', 'hover', 'input_text', 'key', 'navigate', 'right_click', 'scroll', 'select', 'wait'].sort(),
        );
      }
    }
    expect(report.refused).toEqual(Array(8).fill(true));
    expect(existsSync(canary)).toBe(false);
  }, 300_000);

  it('masked values stay masked in every grammar', () => {
    for (const { dir, format } of outs) {
      const card = readFileSync(path.join(dir, 'README.md'), 'utf8');
      expect(card, format).toContain('[masked]');
    }
  });

  it('the sft loader target needs the sft config', async () => {
    const plain = path.join(work, 'plain');
    await convertOk(SAMPLE, plain, ['--split', 'train=1']);
    await expect(renderFor({ source: plain, out: path.join(work, 'loaders-plain'), targets: ['sft'] })).rejects.toThrow(
      /--targets sft: needs the sft config \(convert --configs sft\)/,
    );
    const r = await renderFor({ source: plain, out: path.join(work, 'loaders-plain') });
    expect(r.targets).not.toContain('sft');
  }, 120_000);
});
