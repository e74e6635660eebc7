/**
 * Stable ClassLabel vocabularies. Ids never move between dataset versions: a fixed known order,
 * unseen values appended in order of first appearance, and an earlier version's vocabulary can be
 * pinned so its ids are kept.
 *
 * The vocabulary must be complete before an output's schema is written (Arrow puts the features
 * in its first message), so the pipeline observes every value in its planning pass, then freezes.
 */
import { InputError, UsageError } from '../errors.ts';

export const KNOWN_ACTION_TYPES: readonly string[] = [
  'click',
  'double_click',
  'right_click',
  'input_text',
  'key',
  'scroll',
  'drag',
  'hover',
  'navigate',
  'select',
  'wait',
];
export const KNOWN_OUTCOMES: readonly string[] = ['success', 'error', 'abandoned'];

export class Vocabulary {
  private readonly ids = new Map<string, number>();
  private readonly names: string[] = [];
  /** Values seen in the data beyond the first `reportFrom` names (the pinned, else the known list), in order of first appearance. */
  readonly appended: string[] = [];
  private frozen = false;

  constructor(
    readonly label: string,
    base: readonly string[],
    private readonly reportFrom = base.length,
  ) {
    for (const n of base) this.add(n);
  }

  private add(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.names.push(name);
      this.ids.set(name, id);
    }
    return id;
  }

  /** Record a value seen in the data (planning pass). */
  observe(name: string): void {
    const known = this.ids.get(name);
    if (known !== undefined) {
      // A known value missing from a pinned list keeps the id it got after the pin, but is reported.
      if (known >= this.reportFrom && !this.appended.includes(name)) this.appended.push(name);
      return;
    }
    if (this.frozen) throw new InputError(`${this.label} "${name}" is not in the frozen vocabulary [${this.names.join(', ')}]`);
    this.appended.push(name);
    this.add(name);
  }

  /** The id of a value; unseen values are appended until the vocabulary is frozen. */
  id(name: string): number {
    this.observe(name);
    return this.ids.get(name)!;
  }

  freeze(): void {
    this.frozen = true;
  }
  get isFrozen(): boolean {
    return this.frozen;
  }
  get list(): readonly string[] {
    return this.names;
  }
}

/** What `dataset-manifest.json` stores under `labels` (and `--labels-from` reads back). */
export interface LabelVocabJson {
  action_type: string[];
  outcome: string[];
}

export class LabelVocab {
  readonly actionTypes: Vocabulary;
  readonly outcomes: Vocabulary;
  constructor(pinned?: LabelVocabJson) {
    this.actionTypes = new Vocabulary('action type', mergeBase(pinned?.action_type, KNOWN_ACTION_TYPES), pinned?.action_type.length);
    this.outcomes = new Vocabulary('outcome', mergeBase(pinned?.outcome, KNOWN_OUTCOMES), pinned?.outcome.length);
  }
  freeze(): this {
    this.actionTypes.freeze();
    this.outcomes.freeze();
    return this;
  }
  toJSON(): LabelVocabJson {
    return { action_type: [...this.actionTypes.list], outcome: [...this.outcomes.list] };
  }
  /** Values appended beyond the known/pinned lists, for the run summary and the card. */
  appended(): LabelVocabJson {
    return { action_type: [...this.actionTypes.appended], outcome: [...this.outcomes.appended] };
  }
}

/** Pinned names keep their ids; known names missing from the pin are appended after them. */
function mergeBase(pinned: readonly string[] | undefined, known: readonly string[]): string[] {
  if (!pinned) return [...known];
  const out = [...pinned];
  for (const k of known) if (!out.includes(k)) out.push(k);
  return out;
}

/**
 * A LabelVocab keeping the ids of an earlier version. Accepts a parsed dataset-manifest.json with
 * `labels: {action_type, outcome}`, or failing that its features JSON (`features.action.type.names`,
 * `features.outcome.names`), or a bare LabelVocabJson.
 */
export function pinLabels(fromManifest: unknown, file = 'labels manifest'): LabelVocab {
  const m = isObject(fromManifest) ? fromManifest : {};
  const labels = isObject(m.labels) ? m.labels : m;
  let action = stringList(labels.action_type);
  let outcome = stringList(labels.outcome);
  if ((!action || !outcome) && isObject(m.features)) {
    const f = m.features;
    const act = isObject(f.action) ? f.action : undefined;
    action ??= stringList(isObject(act?.type) ? act.type.names : undefined);
    outcome ??= stringList(isObject(f.outcome) ? f.outcome.names : undefined);
  }
  if (!action || !outcome) {
    throw new UsageError('expected "labels": {"action_type": [...], "outcome": [...]} (or ClassLabel names in "features")', { file });
  }
  return new LabelVocab({ action_type: action, outcome });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? [...v] : undefined;
}
