import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../src/errors.ts';
import type { Step } from '../src/export/step.ts';
import { assignSplit, createSplitter, makeSplitPlan, parseSplitSpec } from '../src/select/split.ts';

function step(session_id: string, t_ms = 0, context: Record<string, unknown> = {}): Step {
  return {
    session_id,
    t_ms,
    frame: { viewport: { w: 1440, h: 900 }, dom: null, accessibility_tree: null },
    action: { type: 'click', x: 1, y: 1 },
    context: { prior_action: null, workflow: 'wf', ...context } as Step['context'],
    extra: {},
    image: { ref: 'r', ext: 'webp', read: async () => new Uint8Array() },
    origin: { file: 'data/part-0.jsonl', line: 1 },
  };
}

const sessions = Array.from({ length: 2000 }, (_, i) => `ses_${String(i).padStart(5, '0')}`);

async function tmp(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'split-'));
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

describe('parseSplitSpec', () => {
  it('parses ratios in the order written', () => {
    expect(parseSplitSpec('train=0.9,validation=0.05,test=0.05')).toEqual({
      kind: 'ratios',
      ratios: [
        { name: 'train', ratio: 0.9 },
        { name: 'validation', ratio: 0.05 },
        { name: 'test', ratio: 0.05 },
      ],
    });
  });
  it('rejects bad names, ratios, sums and duplicates with a UsageError', () => {
    for (const bad of ['tr-ain=1', 'train=0.9,test=0.2', 'train=1,test=0', 'train=0.5,train=0.5', 'train', '', 'a=0.5,b=x']) {
      expect(() => parseSplitSpec(bad), bad).toThrow(UsageError);
    }
    expect(() => parseSplitSpec('train=0.9,test=0.2')).toThrow(/sum to 1\.1/);
    expect(() => parseSplitSpec('my.split=1')).not.toThrow();
  });
  it('parses value lists with a catch-all', () => {
    expect(parseSplitSpec('train=*,test=onboarding|refund')).toEqual({
      kind: 'values',
      values: [
        { name: 'train', values: [] },
        { name: 'test', values: ['onboarding', 'refund'] },
      ],
      rest: 'train',
    });
    expect(() => parseSplitSpec('train=a|b,test=b')).toThrow(/both "train" and "test"/);
  });
});

describe('ratio splits', () => {
  it('is deterministic per seed, differs across seeds, and honours ratios on 2000 sessions', async () => {
    const plan0 = await makeSplitPlan({ split: 'train=0.9,validation=0.05,test=0.05', seed: 0 });
    const again = await makeSplitPlan({ split: 'train=0.9,validation=0.05,test=0.05', seed: 0 });
    const plan1 = await makeSplitPlan({ split: 'train=0.9,validation=0.05,test=0.05', seed: 1 });
    const a = sessions.map((s) => assignSplit(plan0, step(s)));
    const b = sessions.map((s) => assignSplit(again, step(s)));
    const c = sessions.map((s) => assignSplit(plan1, step(s)));
    expect(a).toEqual(b);
    expect(a.filter((x, i) => x !== c[i]).length).toBeGreaterThan(50);
    const count = (xs: string[], n: string) => xs.filter((x) => x === n).length;
    // Binomial sd for n=2000, p=0.05 is about 10; 5 sd margins.
    expect(Math.abs(count(a, 'train') - 1800)).toBeLessThan(70);
    expect(Math.abs(count(a, 'validation') - 100)).toBeLessThan(50);
    expect(Math.abs(count(a, 'test') - 100)).toBeLessThan(50);
    expect(plan0.splits).toEqual(['train', 'validation', 'test']);
  });

  it('never puts one session in two splits, whatever its rows', async () => {
    const plan = await makeSplitPlan({ split: 'train=0.5,test=0.5', seed: 7 });
    const splitter = createSplitter(plan);
    const seen = new Map<string, Set<string>>();
    for (const s of sessions.slice(0, 300)) {
      for (let t = 0; t < 5; t++) {
        const name = splitter.assign(step(s, t * 100, { workflow: `wf${t}` }));
        (seen.get(s) ?? seen.set(s, new Set()).get(s)!).add(name);
      }
    }
    for (const names of seen.values()) expect(names.size).toBe(1);
    expect(new Set([...seen.values()].map((n) => [...n][0])).size).toBe(2);
  });
});

describe('--split-by', () => {
  const workflows = ['process_invoice', 'approve_po', 'onboarding', 'refund', 'expense', 'payroll', 'audit', 'vendor_setup'];
  it('puts every value of the field in one split (hash of seed and value)', async () => {
    const plan = await makeSplitPlan({ splitBy: 'workflow', split: 'train=0.5,test=0.5', seed: 3 });
    const byWorkflow = new Map<string, Set<string>>();
    sessions.slice(0, 800).forEach((s, i) => {
      const wf = workflows[i % workflows.length]!;
      const name = assignSplit(plan, step(s, 0, { workflow: wf }));
      (byWorkflow.get(wf) ?? byWorkflow.set(wf, new Set()).get(wf)!).add(name);
    });
    for (const names of byWorkflow.values()) expect(names.size).toBe(1);
    // With 8 values and 50/50, both splits get some workflows at this seed.
    expect(new Set([...byWorkflow.values()].map((n) => [...n][0])).size).toBe(2);
  });

  it('takes an explicit value mapping with a catch-all, and errors on an unmapped value without one', async () => {
    const plan = await makeSplitPlan({ splitBy: 'workflow', split: 'train=*,test=onboarding|refund' });
    expect(assignSplit(plan, step('s1', 0, { workflow: 'onboarding' }))).toBe('test');
    expect(assignSplit(plan, step('s2', 0, { workflow: 'refund' }))).toBe('test');
    expect(assignSplit(plan, step('s3', 0, { workflow: 'process_invoice' }))).toBe('train');
    const strict = await makeSplitPlan({ splitBy: 'workflow', split: 'train=process_invoice,test=onboarding' });
    expect(() => assignSplit(strict, step('s4', 0, { workflow: 'refund' }))).toThrow(InputError);
    expect(() => assignSplit(strict, step('s4', 0, { workflow: 'refund' }))).toThrow(/"refund" is not given to any split/);
  });

  it('works on nested context fields and rejects rows without the field', async () => {
    const plan = await makeSplitPlan({ splitBy: 'actor.kind', split: 'train=human|script,test=model' });
    expect(assignSplit(plan, step('s1', 0, { actor: { kind: 'model' } }))).toBe('test');
    expect(() => assignSplit(plan, step('s1', 0, {}))).toThrow(/session s1 t_ms 0: --split-by actor.kind needs context.actor.kind/);
  });

  it('rejects a session whose rows disagree on the field', async () => {
    const plan = await makeSplitPlan({ splitBy: 'workflow' });
    const splitter = createSplitter(plan);
    splitter.assign(step('s1', 0, { workflow: 'a' }));
    splitter.assign(step('s1', 10, { workflow: 'a' }));
    expect(() => splitter.assign(step('s1', 20, { workflow: 'b' }))).toThrow(InputError);
    expect(() => createSplitter(plan).assign(step('s2', 0, { workflow: 'a' }))).not.toThrow();
    const s = createSplitter(plan);
    s.assign(step('s1', 0, { workflow: 'a' }));
    expect(() => s.assign(step('s1', 20, { workflow: 'b' }))).toThrow(/session s1 t_ms 20.*"b" but session s1 t_ms 0 has "a"/);
  });

  it('needs --split-by for value lists', async () => {
    await expect(makeSplitPlan({ split: 'train=*,test=x' })).rejects.toThrow(UsageError);
  });
});

describe('--split-sessions', () => {
  it('reads JSON lists', async () => {
    const file = await tmp('splits.json', JSON.stringify({ train: ['s1', 's2'], test: ['s3'] }));
    const plan = await makeSplitPlan({ splitSessions: file });
    expect(['s1', 's2', 's3'].map((s) => assignSplit(plan, step(s)))).toEqual(['train', 'train', 'test']);
    expect(plan.splits).toEqual(['train', 'test']);
  });

  it('reads split<TAB>session_id lines', async () => {
    const file = await tmp('splits.tsv', '# held out\ntrain\ts1\ntest\ts2\n\nvalidation s3\n');
    const plan = await makeSplitPlan({ splitSessions: file });
    expect(['s1', 's2', 's3'].map((s) => assignSplit(plan, step(s)))).toEqual(['train', 'test', 'validation']);
  });

  it('rejects a session listed in two splits, naming it and the file', async () => {
    const file = await tmp('dup.json', JSON.stringify({ train: ['s1', 's2'], test: ['s2'] }));
    const err = await makeSplitPlan({ splitSessions: file }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(String((err as Error).message)).toMatch(/dup\.json.*session s2 is listed in two splits, "train" and "test"/);
    const tsv = await tmp('dup.tsv', 'train\ts1\ntest\ts1\n');
    await expect(makeSplitPlan({ splitSessions: tsv })).rejects.toThrow(/line 2.*two splits/);
  });

  it('unlisted sessions: an error naming the session, the default split, or the ratios', async () => {
    const file = await tmp('some.json', JSON.stringify({ test: ['s1'] }));
    const strict = await makeSplitPlan({ splitSessions: file });
    expect(() => assignSplit(strict, step('s9', 5))).toThrow(/session s9 t_ms 5.*not listed/);
    const withDefault = await makeSplitPlan({ splitSessions: file, defaultSplit: 'train' });
    expect(assignSplit(withDefault, step('s9'))).toBe('train');
    expect(withDefault.splits).toEqual(['test', 'train']);
    const withRatios = await makeSplitPlan({ splitSessions: file, split: 'train=0.8,validation=0.2', seed: 0 });
    const ratioOnly = await makeSplitPlan({ split: 'train=0.8,validation=0.2', seed: 0 });
    expect(assignSplit(withRatios, step('s1'))).toBe('test');
    for (const s of sessions.slice(0, 50)) expect(assignSplit(withRatios, step(s))).toBe(assignSplit(ratioOnly, step(s)));
  });
});
