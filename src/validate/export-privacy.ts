/**
 * The privacy scan over a vendor export: the same detectors as for converted datasets
 * (privacy.ts), over each Step's text fields — action text, url and args, the target's name, the
 * DOM, the accessibility tree and the unknown top-level fields. Steps are streamed; frames are not
 * read (inspect checks them).
 */
import { openExport } from '../export/read.ts';
import type { OpenExportOptions } from '../export/read.ts';
import type { Json, Step } from '../export/step.ts';
import { stepLocation } from '../export/step.ts';
import type { Source } from '../source/types.ts';
import { countMasked, scanText } from './privacy.ts';
import type { Findings, FindingExample } from './report.ts';

const text = (v: Json | undefined): string | null => (v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v));

/** Field name → text, for one Step. */
export function stepTexts(s: Step): Array<[string, string | null]> {
  const target = s.action.target;
  return [
    ['action.text', text(s.action.text)],
    ['action.target.name', target && typeof target === 'object' && !Array.isArray(target) ? text(target.name) : null],
    ['action.url', text(s.action.url)],
    ['action.args', text(s.action.args)],
    ['frame.dom', text(s.frame.dom)],
    ['frame.accessibility_tree', s.frame.accessibility_tree],
    ['extra', Object.keys(s.extra).length ? JSON.stringify(s.extra) : null],
  ];
}

function where(s: Step): FindingExample {
  const o = s.origin;
  const row = o.row ?? (o.line !== undefined ? o.line - 1 : undefined);
  return { file: o.file, ...(row !== undefined ? { row } : {}), ...(o.member !== undefined ? { member: o.member } : {}), message: '' };
}

/** Scan every step of the export; unreadable rows are skipped (inspect reports them). */
export async function scanExportPrivacy(source: Source, findings: Findings, input: Pick<OpenExportOptions, 'limits' | 'allowRemote'> = {}): Promise<void> {
  const reader = await openExport(source, { ...input, onError: () => 'skip' });
  for await (const s of reader.steps()) {
    for (const [field, t] of stepTexts(s)) {
      if (!t) continue;
      findings.stats.masked += countMasked(t);
      for (const hit of scanText(t)) findings.add(hit.id, { ...where(s), message: `${stepLocation(s)}: field ${field}: ${hit.excerpt}` });
    }
  }
}
