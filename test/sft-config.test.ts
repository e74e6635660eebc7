/**
 * The `sft` config (convert --configs sft): rows in TRL's conversational prompt-completion format
 * for vision models, read by `datasets` from the folder and from the local Hub by tag and checked
 * with TRL's own helpers; the card documents grammar, coordinates, history and template; history
 * (actions and frames) stays inside its session; the prompt template fills its fields; bad flags,
 * bad templates and unknown action types are one-line errors; output is deterministic and validate
 * finds it clean.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KNOWN_ACTION_TYPES } from '../src/hf/labels.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject } from '../src/export/step.ts';
import type { DatasetManifest } from '../src/hf/dataset-manifest.ts';
import { pushDataset } from '../src/hub/push.ts';
import { startHubServer } from '../src/hub/server.ts';
import type { HubServer } from '../src/hub/server.ts';
import { HubToken } from '../src/hub/token.ts';
import { SAMPLE, SPLIT3, convertOk, deriveExport, runCli, sampleJsonRows } from './convert-fixtures.ts';
import { hashTree, testToken } from './helpers/bytes.ts';
import { runPython } from './helpers/python.ts';

const TOKEN = testToken();
const REPO = 'acme/invoices-sft';
const HISTORY = ['--history', '2', '--history-frames', '2'];
const TEMPLATE =
  'Workflow {workflow}, step {step} on {viewport}; ticket {context.ticket_id}; tags {tags}; {{braces}}\nBefore:\n{history}\n';

let work: string;
let hub: HubServer;
let plain: string;
let templated: string;
let pyEnv: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'sft-config-'));
  hub = await startHubServer({ dir: path.join(work, 'hub'), tokens: [{ token: TOKEN, role: 'write' }] });
  plain = path.join(work, 'plain');
  templated = path.join(work, 'templated');
  writeFileSync(path.join(work, 'prompt.txt'), TEMPLATE);
  await Promise.all([
    convertOk(SAMPLE, plain, ['--configs', 'steps,sft', ...HISTORY, ...SPLIT3]),
    convertOk(SAMPLE, templated, [
      '--configs',
      'sft',
      '--action-format',
      'json',
      '--coords',
      'norm1000',
      '--history',
      '1',
      '--prompt-template',
      path.join(work, 'prompt.txt'),
    ]),
  ]);
  await pushDataset({ dir: plain, repo: REPO, tag: 'v1', formats: ['parquet'], hubUrl: hub.url, token: new HubToken(TOKEN, 'HF_TOKEN') });
  pyEnv = {
    HF_ENDPOINT: hub.url,
    HF_HUB_OFFLINE: '0',
    HF_DATASETS_OFFLINE: '0',
    HF_HOME: path.join(work, 'hf-home'),
    HF_TOKEN: TOKEN,
  };
}, 300_000);

afterAll(async () => {
  await hub?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const manifestOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'dataset-manifest.json'), 'utf8')) as DatasetManifest;

/** Checks every row of every split with TRL's own helpers; returns rows per split and what was seen. */
const TRL_CHECK = `
import json, sys
from datasets import load_dataset
from PIL import Image
from trl.data_utils import is_conversational, prepare_multimodal_messages

def check(dd):
    out = {}
    for split, ds in dd.items():
        assert set(["images", "prompt", "completion"]) <= set(ds.column_names), ds.column_names
        for row in ds:
            assert is_conversational(row), "not conversational"
            assert [m["role"] for m in row["prompt"]] == ["system", "user"]
            assert [m["role"] for m in row["completion"]] == ["assistant"]
            parts = [p for m in row["prompt"] + row["completion"] for p in m["content"]]
            assert all(set(p) == {"type", "text"} for p in parts), parts[0]
            placeholders = sum(p["type"] == "image" for p in row["prompt"][1]["content"])
            assert placeholders == len(row["images"]) >= 1, (placeholders, len(row["images"]))
            assert row["prompt"][1]["content"][-1]["type"] == "text"
            assert all(isinstance(im, Image.Image) for im in row["images"])
            # TRL fills every placeholder with its image (raises when the counts differ).
            filled = prepare_multimodal_messages(row["prompt"], images=row["images"])
            assert sum("image" in p for m in filled for p in m["content"]) == len(row["images"])
            (part,) = row["completion"][0]["content"]
            assert part["type"] == "text" and part["text"]
        out[split] = len(ds)
    return out

folder, repo = sys.argv[1], sys.argv[2]
print(json.dumps({"folder": check(load_dataset(folder, "sft")), "hub": check(load_dataset(repo, "sft", revision="v1"))}))
`;

describe('sft config', () => {
  it("load_dataset(folder, 'sft') and load_dataset(repo, 'sft', revision='v1') give TRL's prompt-completion rows", async () => {
    const m = manifestOf(plain);
    const rows = Object.fromEntries(Object.entries(m.splits).map(([s, v]) => [s, v.rows]));
    expect(m.configs?.sft?.splits).toEqual(Object.fromEntries(Object.entries(rows).map(([s, n]) => [s, { rows: n }])));
    // One Python process for both (importing trl is the slow part).
    const r = await runPython<Record<string, Record<string, number>>>(TRL_CHECK, { args: [plain, REPO], env: pyEnv });
    expect(r).toEqual({ folder: rows, hub: rows });
  }, 300_000);

  it('the card declares the config and documents the grammar, coordinates, history and template', () => {
    const card = readFileSync(path.join(plain, 'README.md'), 'utf8');
    expect(card).toContain('  - config_name: sft\n    data_files:\n      - split: train\n        path: sft/train-*');
    expect(card).toContain('action grammar (`--action-format`): **pyautogui**');
    expect(card).toContain('coordinates (`--coords`): **norm**');
    expect(card).toContain('the last **2** actions of the same session');
    expect(card).toContain('the last **2** frames of the same session');
    expect(card).toContain('load_dataset("<org/name or path to this folder>", "sft")');
    // Every action type the vendor emits has an example in the card's grammar.
    for (const type of KNOWN_ACTION_TYPES) expect(card, type).toMatch(new RegExp(`^\\| ${type} \\| \`(pyautogui|computer)\\.`, 'm'));
    expect(card).toContain('| click | `pyautogui.click(x=0.4250, y=0.4300)` |');
    const t = readFileSync(path.join(templated, 'README.md'), 'utf8');
    expect(t).toContain('action grammar (`--action-format`): **json**');
    expect(t).toContain('coordinates (`--coords`): **norm1000**');
    expect(t).toContain('| click | `{"action":"click","x":425,"y":430}` |');
    expect(t).toContain('User turn text: the template `prompt.txt`');
    expect(t).toContain(TEMPLATE.trimEnd());
    expect(manifestOf(templated).configs?.sft?.options).toMatchObject({ action_format: 'json', coords: 'norm1000', history: 1 });
  });

  it('--history K and --history-frames M hold the previous steps of the same session only, oldest first', async () => {
    const r = await runPython<{ rows: number; firstSteps: number; withHistory: number; storedRatio: number; encodings: string[] }>(
      `
import json, sys
from datasets import Image, List, load_dataset
K, M = 2, 2
root = sys.argv[1]
steps = load_dataset(root).cast_column("image", Image(decode=False))
sft = load_dataset(root, "sft").cast_column("images", List(Image(decode=False)))
frame, completion = {}, {}
for split in sft:
    for s in steps[split]:
        frame[(s["session_id"], s["step"])] = s["image"]["bytes"]
    for row in sft[split]:
        completion[(row["session_id"], row["step"])] = row["completion"][0]["content"][0]["text"]
n = first = with_history = 0
for split in sft:
    for row in sft[split]:
        sid, step = row["session_id"], row["step"]
        want = [frame[(sid, j)] for j in range(max(0, step - M), step + 1)]
        got = [im["bytes"] for im in row["images"]]
        assert got == want, (sid, step, len(got), len(want))
        lines = [completion[(sid, j)].replace("\\n", "; ") for j in range(max(0, step - K), step)]
        text = row["prompt"][1]["content"][-1]["text"]
        assert "Previous actions, oldest first:\\n" + ("\\n".join(lines) or "(none)") + "\\nWhat is the next action?" in text, (sid, step, text)
        n += 1
        first += step == 0
        with_history += len(lines) == K
# Stored frame bytes: a row group of sft stores each frame once (a dictionary page), not once per row.
import glob, pyarrow.parquet as pq
def stored(folder, leaf):
    size, encodings = 0, set()
    for f in glob.glob(f"{root}/{folder}/*.parquet"):
        md = pq.ParquetFile(f).metadata
        for g in range(md.num_row_groups):
            for i in range(md.num_columns):
                c = md.row_group(g).column(i)
                if c.path_in_schema == leaf:
                    size += c.total_compressed_size
                    encodings.update(c.encodings)
    return size, sorted(encodings)
sft_bytes, sft_encodings = stored("sft", "images.list.element.bytes")
steps_bytes, _ = stored("data", "image.bytes")
print(json.dumps({"rows": n, "firstSteps": first, "withHistory": with_history, "storedRatio": sft_bytes / steps_bytes, "encodings": sft_encodings}))
`,
      { args: [plain] },
    );
    const m = manifestOf(plain);
    // Three images in most rows, yet about one stored frame per row (the history of a group's first row aside).
    expect(r.encodings).toContain('RLE_DICTIONARY');
    expect(r.storedRatio).toBeGreaterThanOrEqual(1);
    expect(r.storedRatio).toBeLessThan(1.25);
    expect(r.rows).toBe(Object.values(m.splits).reduce((a, s) => a + s.rows, 0));
    expect(r.firstSteps).toBe(Object.values(m.splits).reduce((a, s) => a + s.sessions, 0));
    expect(r.withHistory).toBeGreaterThan(r.rows / 2);
  }, 300_000);

  it('--prompt-template fills workflow, step, viewport, history, context fields and literal braces', async () => {
    const byKey = new Map<string, JsonObject>();
    const steps = new Map<string, number>();
    for (const row of await sampleJsonRows()) {
      const sid = row.session_id as string;
      const step = steps.get(sid) ?? 0;
      steps.set(sid, step + 1);
      byKey.set(`${sid}/${step}`, row);
    }
    const rows = await runPython<Array<{ sid: string; step: number; text: string; completions: string[] }>>(
      `
import json, sys
from datasets import load_dataset
dd = load_dataset(sys.argv[1], "sft")
out = []
for split in dd:
    prev = {}
    for row in dd[split]:
        text = row["prompt"][1]["content"][-1]["text"]
        done = row["completion"][0]["content"][0]["text"]
        out.append({"sid": row["session_id"], "step": row["step"], "text": text, "completions": prev.get(row["session_id"], [])})
        prev[row["session_id"]] = [done]
print(json.dumps(out))
`,
      { args: [templated] },
    );
    expect(rows.length).toBe(byKey.size);
    for (const r of rows) {
      const src = byKey.get(`${r.sid}/${r.step}`)!;
      const ctx = src.context as JsonObject;
      const vp = (src.frame as JsonObject).viewport as { w: number; h: number };
      const history = r.completions.length ? r.completions.join('\n') : '(none)';
      expect(r.text).toBe(
        `Workflow ${String(ctx.workflow)}, step ${r.step} on ${vp.w}x${vp.h}; ticket ${String(ctx.ticket_id ?? '')}; tags ${((ctx.tags as string[]) ?? []).join(', ')}; {braces}\nBefore:\n${history}\n`,
      );
    }
  }, 300_000);

  it('bad flags, templates and action types stop with one line (usage: exit 2; bad input: exit 1)', async () => {
    const file = (name: string, body: string | Uint8Array) => {
      const p = path.join(work, name);
      writeFileSync(p, body);
      return p;
    };
    const odd = (await sampleJsonRows()).slice(0, 3);
    (odd[1]!.action as JsonObject).type = 'teleport';
    const oddExport = await deriveExport(path.join(work, 'odd-export'), odd);
    const sft = ['--configs', 'sft'];
    const cases: Array<[string, string[], number, RegExp]> = [
      [
        'unknown field',
        [...sft, '--prompt-template', file('bad.txt', 'ok {workflow}\n{nope}')],
        2,
        /bad\.txt: line 2: unknown field "\{nope\}"/,
      ],
      [
        'oversized template',
        [...sft, '--prompt-template', file('big.txt', 'x'.repeat(20_000))],
        2,
        /big\.txt: 20000 bytes; a template holds at most 16384/,
      ],
      [
        'binary template',
        [...sft, '--prompt-template', file('bin.txt', new Uint8Array([0x7b, 0x00, 0x01, 0x7d]))],
        2,
        /bin\.txt: line 1: a control character/,
      ],
      [
        'unclosed brace',
        [...sft, '--prompt-template', file('open.txt', 'a {workflow\n}')],
        2,
        /open\.txt: line 1: a "\{" without its "\}"/,
      ],
      ['missing template', [...sft, '--prompt-template', path.join(work, 'nope.txt')], 1, /nope\.txt: cannot read the file \(ENOENT\)/],
      ['sft flag without the config', ['--history', '2'], 2, /--history shapes the sft config; add --configs sft/],
      ['configs without parquet', ['--configs', 'steps,sft', '--formats', 'arrow'], 2, /add parquet to --formats/],
      [
        'formats without steps',
        [...sft, '--formats', 'arrow'],
        2,
        /--formats arrow: formats of the steps config, which --configs sft leaves out/,
      ],
      ['unknown config', ['--configs', 'steps,nope'], 2, /--configs: unknown config "nope"/],
      ['history over its limit', [...sft, '--history', '65'], 2, /--history expects an integer from 0 to 64/],
    ];
    for (const [name, flags, code, message] of cases) {
      const r = await runCli(['convert', SAMPLE, '--out', path.join(work, `out-${code}`), ...flags]);
      expect(r.code, `${name}: ${r.stderr}`).toBe(code);
      expect(r.stderr, name).toMatch(message);
      expect(r.stderr, name).not.toMatch(/\n\s+at /);
    }
    const r = await runCli(['convert', oddExport, '--out', path.join(work, 'out-odd'), ...sft]);
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/session ses_\w+ t_ms \d+: sft: action type "teleport" has no rendering; the sft config renders click, /);
  }, 300_000);

  it('is deterministic, and validate finds the dataset clean', async () => {
    const again = path.join(work, 'again');
    await convertOk(SAMPLE, again, ['--configs', 'steps,sft', ...HISTORY, ...SPLIT3]);
    expect(await hashTree(again)).toEqual(await hashTree(plain));
    const v = await runCli(['validate', plain]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    // A config file that lost rows is caught by its own counts.
    const card = readFileSync(path.join(again, 'README.md'), 'utf8');
    const sftInfo = card.indexOf('- config_name: sft', card.indexOf('dataset_info:'));
    const edited =
      card.slice(0, sftInfo) + card.slice(sftInfo).replace(/num_examples: (\d+)/, (_, n: string) => `num_examples: ${Number(n) + 1}`);
    writeFileSync(path.join(again, 'README.md'), edited);
    const bad = await runCli(['validate', again]);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/config sft split train: num_examples \d+, its files have \d+ rows/);
  }, 300_000);
});
