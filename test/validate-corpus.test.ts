/**
 * validate against the defect corpus: the clean converted sample has zero findings; each copy with
 * one planted defect reports exactly that check, on the planted file and row/member; the three
 * silent-`datasets` defects really do lose the feature in `datasets`; privacy findings never echo
 * the raw value; the CLI's exit codes.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LARGE_CLEAN, makeDefectCorpus } from '../scripts/make-defect-corpus.ts';
import type { Planted } from '../scripts/make-defect-corpus.ts';
import type { ValidationReport } from '../src/validate/report.ts';
import { validate } from '../src/validate/validate.ts';
import { runCliSync } from './helpers/cli.ts';
import { sampleConversion } from './helpers/sample-cache.ts';
import { runPython } from './helpers/python.ts';

const cli = (args: string[], env: Record<string, string> = {}) => runCliSync(args, env);

let tmp: string;
let clean: string;
let plan: Planted[];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'validate-corpus-'));
  // Read-only: the shared conversion; every planted case is a copy.
  clean = await sampleConversion([
    '--formats',
    'parquet,arrow,jsonl,webdataset',
    '--split',
    'train=0.6,validation=0.2,test=0.2',
    '--seed',
    '1',
  ]);
  plan = await makeDefectCorpus(clean, path.join(tmp, 'corpus'));
}, 600_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('validate: clean sample', () => {
  it('the CLI reports zero findings, exit 0, and counts the [masked] values it did not flag', () => {
    const r = cli(['validate', clean, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as ValidationReport;
    expect(rep.clean).toBe(true);
    expect(rep.checks).toEqual([]);
    expect(rep.errors).toBe(0);
    expect(rep.stats.masked).toBeGreaterThan(0);
    // Rows per format, not summed over the four formats.
    expect(rep.stats.rows).toBe(77);
    expect(Object.entries(rep.stats.by_format).map(([f, s]) => [f, s.rows, s.frames])).toEqual(
      ['parquet', 'arrow', 'jsonl', 'webdataset'].map((f) => [f, 77, 77]),
    );
  });

  it('the larger clean dataset the row-group, page-index and shard-balance plants copy is clean too', async () => {
    const large = path.join(tmp, 'corpus', LARGE_CLEAN);
    for (const worldSize of [1, 2, 4]) {
      const rep = await validate([large], { worldSize, threads: 2 });
      expect(rep.checks, `world size ${worldSize}`).toEqual([]);
      expect(rep.stats.rows).toBe(180);
    }
  });

  it('usage errors exit 2', () => {
    expect(cli(['validate', clean, '--decode', 'pixels']).code).toBe(2);
    expect(cli(['validate', clean, '--world-size', '0']).code).toBe(2);
  });
});

describe('validate: each planted defect is reported exactly', () => {
  it('every case reports only its check id, on the planted file and row/member', async () => {
    const problems: string[] = [];
    for (const p of plan) {
      const ws = p.flags?.[0] === '--world-size' ? Number(p.flags[1]) : 1;
      const rep = await validate([p.dir], { worldSize: ws, threads: 2 });
      const ids = rep.checks.map((c) => c.id);
      // A case that needs flags is a balance defect: the same copy for one rank and worker is clean.
      if (ws > 1 && (await validate([p.dir], { threads: 2 })).checks.length)
        problems.push(`${p.name}: findings without ${p.flags!.join(' ')}`);
      if (ids.length !== 1 || ids[0] !== p.id) {
        problems.push(`${p.name}: expected [${p.id}], got [${ids.join(', ')}]`);
        continue;
      }
      for (const e of rep.checks[0]!.examples) {
        const fileOk = p.file.endsWith('*') ? e.file.startsWith(p.file.slice(0, -1)) : e.file === p.file;
        const rowOk =
          p.row === undefined || (p.row === 'any' ? e.row !== undefined : p.row === 'none' ? e.row === undefined : e.row === p.row);
        const memberOk = p.member === undefined || (p.member === 'any' ? e.member !== undefined : e.member === p.member);
        if (!fileOk || !rowOk || !memberOk) problems.push(`${p.name}: example at ${JSON.stringify(e)}`);
      }
    }
    expect(problems).toEqual([]);
    // The corpus covers every check but the hostile-input ones (validate-hostile), unreadable
    // files (the message is the point there), exports (validate-export), whole-target checks
    // (validate-complete) and balance notes (validate-shard-balance).
    const { CHECKS } = await import('../src/validate/checks.ts');
    const elsewhere = [
      'wds.member_too_large',
      'wds.decompression_bomb',
      'arrow.unreadable',
      'dataset.unreadable_metadata',
      'rows.unreadable',
      'wds.uneven_rows',
      'target.not_found',
      'target.empty',
      'target.unrecognised',
      'dataset.manifest_missing',
      'dataset.file_unlisted',
      'dataset.row_count_mismatch',
    ];
    const unplanted = Object.keys(CHECKS).filter(
      (id) => !id.startsWith('export.') && !elsewhere.includes(id) && !plan.some((p) => p.id === id),
    );
    expect(unplanted).toEqual([]);
  }, 600_000);

  it('an error exits 1 from the CLI; a warning only with --strict', () => {
    const leak = plan.find((p) => p.name === 'leak-session')!;
    const r = cli(['validate', leak.dir, '--json']);
    expect(r.code).toBe(1);
    const rep = JSON.parse(r.stdout);
    const ex = rep.checks[0].examples[0];
    // The leaked session is named (the train session the test rows were moved to).
    expect(ex.message).toMatch(/session ses_\w+ is in train and test/);
    const few = plan.find((p) => p.name === 'wds-too-few')!;
    expect(cli(['validate', few.dir, '--world-size', '2']).code).toBe(0);
    expect(cli(['validate', few.dir, '--world-size', '2', '--strict']).code).toBe(1);
  });
});

describe('validate: the silent datasets defects are real', () => {
  it('datasets loses ClassLabel/Image on each file that validate flags', async () => {
    const file = (name: string) => path.join(plan.find((p) => p.name === name)!.dir, 'data/train-00000-of-00001.parquet');
    const out = await runPython<Record<string, Record<string, string>>>(
      `
import sys, json
from datasets import load_dataset
res = {}
for name, p in zip(['clean', 'non_nullable', 'int32', 'large_binary'], sys.argv[1:]):
    f = load_dataset('parquet', data_files={'train': p}, split='train').features
    res[name] = {'outcome': type(f['outcome']).__name__, 'image': type(f['image']).__name__}
print(json.dumps(res))
`,
      {
        args: [
          path.join(clean, 'data/train-00000-of-00001.parquet'),
          file('pq-non-nullable'),
          file('pq-classlabel-int32'),
          file('pq-large-binary'),
        ],
        env: { HF_DATASETS_CACHE: path.join(tmp, 'hf-cache') },
      },
    );
    expect(out.clean).toEqual({ outcome: 'ClassLabel', image: 'Image' });
    expect(out.non_nullable!.outcome).toBe('Value');
    expect(out.int32!.outcome).toBe('Value');
    expect(out.large_binary!.image).not.toBe('Image');
  }, 300_000);
});

/** The fields of a JSONL output row the privacy test edits. */
interface JsonlLine {
  action: { text?: string };
  dom?: string;
  accessibility_tree?: string;
  extra?: string;
}

describe('validate: privacy', () => {
  it('card, e-mail, phone and IBAN in different fields are reported with field and redacted excerpt, never the value', async () => {
    const dir = path.join(tmp, 'privacy-all');
    await cp(clean, dir, { recursive: true });
    const file = path.join(dir, 'jsonl/train-00000.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n');
    const raw = {
      card: '4111 1111 1111 1111',
      email: 'jane.doe@example.com',
      phone: '+1 415-555-0132',
      iban: 'DE89 3704 0044 0532 0130 00',
    };
    const edit = (i: number, f: (r: JsonlLine) => void) => {
      const r = JSON.parse(lines[i]!) as JsonlLine;
      f(r);
      lines[i] = JSON.stringify(r);
    };
    edit(2, (r) => {
      r.action.text = `card ${raw.card} ok`;
    });
    edit(3, (r) => {
      r.dom = JSON.stringify({ value: raw.email });
    });
    edit(4, (r) => {
      r.accessibility_tree = `textbox "Phone" value="${raw.phone}"`;
    });
    edit(5, (r) => {
      r.extra = JSON.stringify({ bank: raw.iban });
    });
    await writeFile(file, lines.join('\n'));
    for (const args of [['--json'], []]) {
      const r = cli(['validate', dir, ...args]);
      expect(r.code).toBe(1);
      for (const v of Object.values(raw)) {
        expect(r.stdout + r.stderr).not.toContain(v);
        expect(r.stdout + r.stderr).not.toContain(v.replace(/ /g, ''));
      }
      if (args.length) {
        const rep = JSON.parse(r.stdout) as ValidationReport;
        const by = Object.fromEntries(rep.checks.map((c) => [c.id, c.examples[0]]));
        expect(by['privacy.card_number']).toMatchObject({ file: 'jsonl/train-00000.jsonl', row: 2 });
        expect(by['privacy.card_number'].message).toContain('field action.text: card [card: 16 digits] ok');
        expect(by['privacy.email'].message).toContain('field dom');
        expect(by['privacy.phone'].message).toContain('field accessibility_tree');
        expect(by['privacy.iban'].message).toContain('field extra');
        // The size of the edited file changed too; nothing else is reported.
        expect(rep.checks.map((c) => c.id).sort()).toEqual([
          'dataset.file_size_mismatch',
          'privacy.card_number',
          'privacy.email',
          'privacy.iban',
          'privacy.phone',
        ]);
        expect(rep.stats.masked).toBeGreaterThan(0);
      } else {
        expect(r.stdout).toMatch(/ERROR privacy\.card_number \(1\)/);
      }
    }
  });
});
