/**
 * The privacy scan over a vendor export: the same detectors and the same fields as for a converted
 * dataset (PRIVACY_FIELDS in privacy.ts). Each Step is mapped onto those fields the way convert
 * stores it: the typed text (`text`, else the vendor's `value`) as action.text, every other action
 * field as action.args, fields without a column of their own as extra. Steps are streamed; frames
 * are not read (inspect checks them).
 */
import { abortError } from '../abort.ts';
import { openExport } from '../export/read.ts';
import type { OpenExportOptions } from '../export/read.ts';
import type { Json, JsonObject, Step } from '../export/step.ts';
import { stepLocation } from '../export/step.ts';
import type { Source } from '../source/types.ts';
import { scanFields } from './privacy.ts';
import type { PrivacyTexts } from './privacy.ts';
import type { Findings, FindingExample } from './report.ts';

const text = (v: Json | undefined): string | null => (v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v));
const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys with a column of their own in the steps schema (not scanned, or scanned under their own name). */
const ACTION_COLUMNS = ['type', 'x', 'y', 'text', 'key', 'modifiers', 'url', 'dx', 'dy'];
const FRAME_COLUMNS = ['viewport', 'dom', 'accessibility_tree'];
const CONTEXT_COLUMNS = ['workflow', 'prior_action', 'outcome', 'tags', 'path', 'started_at'];

function without(o: JsonObject, keys: string[]): JsonObject {
  const out: JsonObject = {};
  for (const k in o) if (!keys.includes(k)) out[k] = o[k]!;
  return out;
}

/** One Step's text under the dataset's field names. */
export function stepTexts(s: Step): PrivacyTexts {
  const a = s.action;
  const typed = typeof a.text === 'string' ? 'text' : typeof a.value === 'string' ? 'value' : null;
  const args = without(a, typed === 'value' ? [...ACTION_COLUMNS, 'value'] : ACTION_COLUMNS);
  const target = isObj(a.target) ? a.target : null;
  if (target) {
    const rest = without(target, ['role', 'name']);
    if (Object.keys(rest).length) args.target = rest;
    else delete args.target;
  }
  const extra: JsonObject = { ...s.extra };
  const frameRest = without(s.frame, FRAME_COLUMNS);
  const ctxRest = without(s.context, CONTEXT_COLUMNS);
  if (isObj(ctxRest.actor)) {
    const actor = without(ctxRest.actor, ['kind']);
    if (Object.keys(actor).length) ctxRest.actor = actor;
    else delete ctxRest.actor;
  }
  if (Object.keys(frameRest).length) extra.frame = frameRest;
  if (Object.keys(ctxRest).length) extra.context = ctxRest;
  return {
    'action.text': typed ? (a[typed] as string) : null,
    'action.target.name': target ? text(target.name) : null,
    'action.url': text(a.url),
    'action.args': Object.keys(args).length ? JSON.stringify(args) : null,
    dom: text(s.frame.dom),
    accessibility_tree: s.frame.accessibility_tree,
    extra: Object.keys(extra).length ? JSON.stringify(extra) : null,
  };
}

function where(s: Step): FindingExample {
  const o = s.origin;
  const row = o.row ?? (o.line !== undefined ? o.line - 1 : undefined);
  return { file: o.file, ...(row !== undefined ? { row } : {}), ...(o.member !== undefined ? { member: o.member } : {}), message: '' };
}

/** Scan every step of the export; unreadable rows are skipped (inspect reports them). */
export async function scanExportPrivacy(
  source: Source,
  findings: Findings,
  input: Pick<OpenExportOptions, 'limits' | 'allowRemote'> & { signal?: AbortSignal } = {},
): Promise<void> {
  const { signal, ...open } = input;
  const reader = await openExport(source, { ...open, onError: () => 'skip' });
  for await (const s of reader.steps()) {
    if (signal?.aborted) throw abortError(signal);
    findings.stats.masked += scanFields(stepTexts(s), (field, hit) =>
      findings.add(hit.id, { ...where(s), message: `${stepLocation(s)}: field ${field}: ${hit.excerpt}` }),
    );
  }
}
