/**
 * Session splits: every session goes to exactly one split, deterministically.
 *
 * Three ways to say which split a session belongs to (`makeSplitPlan` builds one from CLI options):
 *  - ratios `--split train=0.9,validation=0.05,test=0.05 --seed 0`: u = sha256("{seed}\0{session_id}")
 *    read as a uniform number in [0,1), placed into the cumulative ratio buckets in the order written.
 *  - by a context field `--split-by workflow`: every distinct value of `context.workflow` goes to one
 *    split, so a whole workflow is held out. With ratios, u is hashed from "{seed}\0{value}" (the
 *    ratios then apply to values, not rows: with few values use a mapping). With a mapping,
 *    `--split "train=*,test=onboarding|refund"` names the values of each split (`|` separated),
 *    `*` catches every other value; without `*` an unmapped value is an error. The field may be a
 *    dotted path under `context` (`actor.kind`). A session whose rows disagree on it is an error.
 *  - explicit lists `--split-sessions <file>`: JSON `{"train": ["ses_1", ...], "test": [...]}` or text
 *    lines `split<TAB or spaces>session_id` (`#` comments, blank lines ignored). A session listed in
 *    two splits is a UsageError. A session the file does not list goes by the ratios when `--split`
 *    ratios are also given, else to `defaultSplit` when given, else it is an error naming it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { InputError, UsageError } from '../errors.ts';
import { stepLocation } from '../export/step.ts';
import type { Json, Step } from '../export/step.ts';
import { SPLIT_NAME } from '../hf/split-name.ts';
import { failureReason } from '../limits.ts';

export { SPLIT_NAME };

export interface SplitRatio {
  name: string;
  ratio: number;
}

/** `--split` parsed: either ratios, or (with --split-by only) value lists per split. */
export type SplitSpec =
  | { kind: 'ratios'; ratios: SplitRatio[] }
  | { kind: 'values'; values: { name: string; values: string[] }[]; rest?: string };

export type SplitPlan =
  | { kind: 'ratios'; seed: string; ratios: SplitRatio[]; splits: string[] }
  | {
      kind: 'by-field';
      field: string;
      seed: string;
      ratios?: SplitRatio[];
      /** Field value → split name, when the split was given as value lists. */
      mapping?: Map<string, string>;
      rest?: string;
      splits: string[];
    }
  | {
      kind: 'sessions';
      file: string;
      sessions: Map<string, string>;
      /** Unlisted sessions: by these ratios, else `defaultSplit`, else an error. */
      ratios?: SplitRatio[];
      seed: string;
      defaultSplit?: string;
      splits: string[];
    };

const RATIO_SUM_TOLERANCE = 1e-6;

/** The two `--split` forms, as help and every error show them. */
export const SPLIT_RATIOS_EXAMPLE = 'train=0.9,validation=0.05,test=0.05';
export const SPLIT_VALUES_EXAMPLE = 'train=*,test=onboarding|refund';

function checkSplitName(name: string, flag: string): void {
  if (!SPLIT_NAME.test(name)) {
    throw new UsageError(`${flag}: split name "${name}" must match ${SPLIT_NAME.source} (letters, digits, _ and dots between words)`);
  }
}

/**
 * Parse `train=0.9,validation=0.05,test=0.05` (ratios > 0 summing to 1) or, for --split-by,
 * `train=*,test=onboarding|refund` (value lists, `*` = every other value).
 */
export function parseSplitSpec(spec: string, flag = '--split'): SplitSpec {
  const parts = spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new UsageError(`${flag}: empty; expected e.g. ${SPLIT_RATIOS_EXAMPLE}`);
  const pairs = parts.map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new UsageError(
        `${flag}: "${part}" is not name=value; expected e.g. ${SPLIT_RATIOS_EXAMPLE}, or with --split-by ${SPLIT_VALUES_EXAMPLE}`,
      );
    const name = part.slice(0, eq).trim();
    checkSplitName(name, flag);
    return { name, value: part.slice(eq + 1).trim() };
  });
  const seen = new Set<string>();
  for (const { name } of pairs) {
    if (seen.has(name)) throw new UsageError(`${flag}: split "${name}" is named twice`);
    seen.add(name);
  }
  const numeric = pairs.map((p) => /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(p.value));
  if (numeric.every(Boolean)) {
    const ratios = pairs.map(({ name, value }) => {
      const ratio = Number(value);
      if (!(ratio > 0)) throw new UsageError(`${flag}: ratio of "${name}" is ${value}; ratios must be > 0`);
      return { name, ratio };
    });
    const sum = ratios.reduce((a, r) => a + r.ratio, 0);
    if (Math.abs(sum - 1) > RATIO_SUM_TOLERANCE) {
      throw new UsageError(`${flag}: ratios sum to ${sum}, expected 1 (e.g. ${SPLIT_RATIOS_EXAMPLE})`);
    }
    return { kind: 'ratios', ratios };
  }
  if (numeric.some(Boolean)) {
    throw new UsageError(
      `${flag}: mixes ratios and value lists; give either all ratios (${SPLIT_RATIOS_EXAMPLE}) or all value lists (${SPLIT_VALUES_EXAMPLE})`,
    );
  }
  let rest: string | undefined;
  const valueOwner = new Map<string, string>();
  const values = pairs.map(({ name, value }) => {
    const list = value.split('|').map((v) => v.trim());
    if (list.some((v) => v === '')) throw new UsageError(`${flag}: split "${name}" has an empty value in "${value}"`);
    const named: string[] = [];
    for (const v of list) {
      if (v === '*') {
        if (rest !== undefined && rest !== name)
          throw new UsageError(`${flag}: "*" (every other value) is given to both "${rest}" and "${name}"`);
        rest = name;
        continue;
      }
      const owner = valueOwner.get(v);
      if (owner !== undefined && owner !== name) throw new UsageError(`${flag}: value "${v}" is given to both "${owner}" and "${name}"`);
      valueOwner.set(v, name);
      named.push(v);
    }
    return { name, values: named };
  });
  return rest === undefined ? { kind: 'values', values } : { kind: 'values', values, rest };
}

/** A uniform number in [0,1) from sha256 of seed and key: stable across machines and versions. */
export function splitHash(seed: string, key: string): number {
  const digest = createHash('sha256').update(`${seed}\0${key}`, 'utf8').digest();
  // 53 high bits → exactly representable double in [0,1).
  return Number(digest.readBigUInt64BE(0) >> 11n) / 2 ** 53;
}

/** The bucket of u in the cumulative ratios, in the order the ratios were written. */
export function bucketOf(u: number, ratios: SplitRatio[]): string {
  let cumulative = 0;
  for (const r of ratios) {
    cumulative += r.ratio;
    if (u < cumulative) return r.name;
  }
  // Ratios may sum to 1 - 1e-6: the remainder goes to the last split.
  return ratios[ratios.length - 1]!.name;
}

export interface SplitOptions {
  /** `--split`: ratios, or value lists with `splitBy`. Default for plain ratio splits: train=1. */
  split?: string;
  /** `--seed`, default 0. */
  seed?: number | string;
  /** `--split-by <context field>`, e.g. `workflow` or `actor.kind`. */
  splitBy?: string;
  /** `--split-sessions <file>` (local path). */
  splitSessions?: string;
  /** Where sessions the --split-sessions file does not list go (without ratios). */
  defaultSplit?: string;
}

/** Build the plan from CLI options; reads the --split-sessions file. */
export async function makeSplitPlan(opts: SplitOptions): Promise<SplitPlan> {
  const seed = String(opts.seed ?? 0);
  const spec = opts.split !== undefined ? parseSplitSpec(opts.split) : undefined;
  if (opts.splitBy !== undefined && opts.splitSessions !== undefined) {
    throw new UsageError('--split-by and --split-sessions cannot be combined: choose one way to assign sessions');
  }
  if (opts.defaultSplit !== undefined) checkSplitName(opts.defaultSplit, 'default split');
  if (opts.splitSessions !== undefined) {
    if (spec?.kind === 'values')
      throw new UsageError('--split value lists (name=a|b) need --split-by; with --split-sessions give ratios or nothing');
    const sessions = await readSessionLists(opts.splitSessions);
    const splits = [...new Set(sessions.values())];
    const ratios = spec?.kind === 'ratios' ? spec.ratios : undefined;
    for (const r of ratios ?? []) if (!splits.includes(r.name)) splits.push(r.name);
    if (opts.defaultSplit !== undefined && !splits.includes(opts.defaultSplit)) splits.push(opts.defaultSplit);
    const plan: SplitPlan = { kind: 'sessions', file: opts.splitSessions, sessions, seed, splits };
    if (ratios) plan.ratios = ratios;
    if (opts.defaultSplit !== undefined) plan.defaultSplit = opts.defaultSplit;
    return plan;
  }
  if (opts.splitBy !== undefined) {
    if (!/^[^.\s]+(\.[^.\s]+)*$/.test(opts.splitBy))
      throw new UsageError(`--split-by: "${opts.splitBy}" is not a context field name (e.g. workflow or actor.kind)`);
    const field = opts.splitBy.replace(/^context\./, '');
    if (spec === undefined || spec.kind === 'ratios') {
      const ratios = spec?.ratios ?? defaultRatios();
      return { kind: 'by-field', field, seed, ratios, splits: ratios.map((r) => r.name) };
    }
    const mapping = new Map<string, string>();
    for (const s of spec.values) for (const v of s.values) mapping.set(v, s.name);
    const plan: SplitPlan = { kind: 'by-field', field, seed, mapping, splits: spec.values.map((s) => s.name) };
    if (spec.rest !== undefined) plan.rest = spec.rest;
    return plan;
  }
  if (spec?.kind === 'values')
    throw new UsageError(
      `--split value lists (${SPLIT_VALUES_EXAMPLE}) need --split-by <field>; without it give ratios like ${SPLIT_RATIOS_EXAMPLE}`,
    );
  const ratios = spec?.ratios ?? [{ name: 'train', ratio: 1 }];
  return { kind: 'ratios', seed, ratios, splits: ratios.map((r) => r.name) };
}

function defaultRatios(): SplitRatio[] {
  return [
    { name: 'train', ratio: 0.9 },
    { name: 'validation', ratio: 0.05 },
    { name: 'test', ratio: 0.05 },
  ];
}

/**
 * Read `--split-sessions`: JSON `{"split": [ids]}` or text `split<TAB>session_id` lines.
 * Returns session_id → split. A session in two splits is a UsageError naming both.
 */
export async function readSessionLists(file: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--split-sessions: cannot read the file: ${(err as Error).message}`, { file });
  }
  const sessions = new Map<string, string>();
  const add = (split: string, id: string, where: string): void => {
    if (!SPLIT_NAME.test(split)) throw new UsageError(`split name "${split}" must match ${SPLIT_NAME.source}`, { file, row: where });
    if (id === '') throw new UsageError(`empty session id in split "${split}"`, { file, row: where });
    const prev = sessions.get(id);
    if (prev !== undefined && prev !== split) {
      throw new UsageError(`session ${id} is listed in two splits, "${prev}" and "${split}"; a session may be in one split only`, {
        file,
        row: where,
      });
    }
    sessions.set(id, split);
  };
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`not valid JSON: ${failureReason(err)}; expected {"train": ["ses_..."], "test": [...]}`, { file });
    }
    for (const [split, ids] of Object.entries(parsed as Record<string, unknown>)) {
      if (!Array.isArray(ids)) throw new UsageError(`split "${split}" must be an array of session ids`, { file });
      ids.forEach((id, i) => {
        if (typeof id !== 'string') throw new UsageError(`split "${split}" item ${i} is not a string session id`, { file });
        add(split, id, `${split}[${i}]`);
      });
    }
    return sessions;
  }
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(\S+)\s+(\S+)$/.exec(line);
    if (!m) throw new UsageError(`expected "split<TAB>session_id", got "${line}"`, { file, row: `line ${i + 1}` });
    add(m[1]!, m[2]!, `line ${i + 1}`);
  });
  return sessions;
}

/** Value of a context field (dotted path) on a step, or undefined when absent. */
export function contextField(step: Step, field: string): Json | undefined {
  let v: Json | undefined = step.context;
  for (const key of field.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = v[key];
  }
  return v;
}

function fieldKey(v: Json): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * The split of one step under a plan. Pure: depends only on the plan and the step's session
 * (and, for by-field plans, the field value). Use `createSplitter` to also check that the rows of a
 * session agree on the field.
 */
export function assignSplit(plan: SplitPlan, step: Step): string {
  switch (plan.kind) {
    case 'ratios':
      return bucketOf(splitHash(plan.seed, step.session_id), plan.ratios);
    case 'sessions': {
      const listed = plan.sessions.get(step.session_id);
      if (listed !== undefined) return listed;
      if (plan.ratios) return bucketOf(splitHash(plan.seed, step.session_id), plan.ratios);
      if (plan.defaultSplit !== undefined) return plan.defaultSplit;
      throw new InputError(
        `session ${step.session_id} is not listed in the --split-sessions file ${plan.file}; list it, or give a default split or ratios for unlisted sessions`,
        { file: step.origin.file, row: stepLocation(step) },
      );
    }
    case 'by-field': {
      const v = contextField(step, plan.field);
      if (v === undefined || v === null) {
        throw new UsageError(`--split-by ${plan.field} needs context.${plan.field}, which this row does not have`, {
          file: step.origin.file,
          row: stepLocation(step),
        });
      }
      const key = fieldKey(v);
      if (plan.mapping) {
        const split = plan.mapping.get(key) ?? plan.rest;
        if (split === undefined) {
          throw new InputError(
            `context.${plan.field} = "${key}" is not given to any split in --split; add it to a split or give one split "*" for every other value`,
            { file: step.origin.file, row: stepLocation(step) },
          );
        }
        return split;
      }
      return bucketOf(splitHash(plan.seed, key), plan.ratios ?? defaultRatios());
    }
  }
}

export interface Splitter {
  /** The split of this step; throws when a session's rows disagree on the split-by field. */
  assign(step: Step): string;
}

/**
 * A stateful splitter for a stream ordered by session: remembers only the current session, and
 * checks that all its rows land in one split (for by-field plans: agree on the field value).
 */
export function createSplitter(plan: SplitPlan): Splitter {
  let session: string | undefined;
  let sessionSplit = '';
  let sessionValue: string | undefined;
  let firstRow = '';
  return {
    assign(step: Step): string {
      if (step.session_id !== session) {
        session = step.session_id;
        sessionSplit = assignSplit(plan, step);
        if (plan.kind === 'by-field') sessionValue = fieldKey(contextField(step, plan.field)!);
        firstRow = stepLocation(step);
        return sessionSplit;
      }
      if (plan.kind === 'by-field') {
        const v = contextField(step, plan.field);
        const key = v === undefined || v === null ? undefined : fieldKey(v);
        if (key !== sessionValue) {
          throw new InputError(
            `--split-by ${plan.field}: this row has context.${plan.field} = ${key === undefined ? 'nothing' : `"${key}"`} but ${firstRow} has "${sessionValue}"; all rows of a session must agree so the session goes to one split`,
            { file: step.origin.file, row: stepLocation(step) },
          );
        }
      }
      return sessionSplit;
    },
  };
}
