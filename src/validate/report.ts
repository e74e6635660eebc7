/**
 * Findings: collected per check (a count plus the first examples in a stable order), then printed
 * as a human report grouped by check, or as one JSON object. Memory is bounded by max examples.
 */
import { CHECKS } from './checks.ts';
import type { CheckId, Severity } from './checks.ts';
import { byKey } from '../util/compare.ts';

export interface FindingExample {
  /** File as the user knows it: path relative to the root, or the path given. */
  file: string;
  /** 0-based row index in the file (jsonl: line - 1). */
  row?: number;
  /** Tar member name. */
  member?: string;
  message: string;
}

export interface CheckResult {
  id: CheckId;
  severity: Severity;
  hint: string;
  count: number;
  examples: FindingExample[];
}

export interface FormatStats {
  files: number;
  rows: number;
  frames: number;
}

export interface ValidationStats {
  files: number;
  bytes: number;
  /** Rows of the dataset: the largest count of any one format (each format holds every row). */
  rows: number;
  /** Frames of the dataset, counted the same way. */
  frames: number;
  /** Per output format (or the export's format): files, rows read and frames checked. */
  by_format: Record<string, FormatStats>;
  /** `[masked]` placeholders seen in scanned text fields. */
  masked: number;
}

export interface ValidationReport {
  /** What was validated, as given. */
  target: string;
  kind: 'dataset' | 'export' | 'files';
  clean: boolean;
  errors: number;
  warnings: number;
  /** Findings that never fail a run (see CHECKS). */
  notes: number;
  checks: CheckResult[];
  stats: ValidationStats;
}

function compareExamples(a: FindingExample, b: FindingExample): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  const ra = a.row ?? -1;
  const rb = b.row ?? -1;
  if (ra !== rb) return ra - rb;
  const ma = a.member ?? '';
  const mb = b.member ?? '';
  if (ma !== mb) return ma < mb ? -1 : 1;
  return a.message < b.message ? -1 : a.message > b.message ? 1 : 0;
}

export class Findings {
  private readonly byCheck = new Map<CheckId, { count: number; examples: FindingExample[] }>();
  readonly stats: ValidationStats = { files: 0, bytes: 0, rows: 0, frames: 0, by_format: {}, masked: 0 };
  /** Most rows read from one extra config's files (a dataset without `steps` has only those). */
  configRows = 0;

  constructor(private readonly maxExamples = 10) {}

  /** The counters of one format, created on first use. */
  format(name: string): FormatStats {
    return (this.stats.by_format[name] ??= { files: 0, rows: 0, frames: 0 });
  }

  add(id: CheckId, ex: FindingExample): void {
    let c = this.byCheck.get(id);
    if (!c) this.byCheck.set(id, (c = { count: 0, examples: [] }));
    c.count++;
    // Keep the first examples by (file, row, member): stable whatever order checks ran in.
    const list = c.examples;
    if (list.length >= this.maxExamples && compareExamples(ex, list[list.length - 1]!) >= 0) return;
    let i = list.length;
    while (i > 0 && compareExamples(ex, list[i - 1]!) < 0) i--;
    list.splice(i, 0, ex);
    if (list.length > this.maxExamples) list.pop();
  }

  report(target: string, kind: ValidationReport['kind']): ValidationReport {
    const checks: CheckResult[] = [...this.byCheck.entries()]
      .sort(byKey)
      .map(([id, c]) => ({ id, severity: CHECKS[id].severity, hint: CHECKS[id].hint, count: c.count, examples: c.examples }));
    const errors = checks.filter((c) => c.severity === 'error').reduce((n, c) => n + c.count, 0);
    const warnings = checks.filter((c) => c.severity === 'warning').reduce((n, c) => n + c.count, 0);
    const notes = checks.filter((c) => c.severity === 'note').reduce((n, c) => n + c.count, 0);
    const formats = Object.values(this.stats.by_format);
    const stats: ValidationStats = {
      ...this.stats,
      rows: Math.max(0, this.configRows, ...formats.map((f) => f.rows)),
      frames: Math.max(0, ...formats.map((f) => f.frames)),
      // In the order the formats were checked (parquet, arrow, jsonl, webdataset): deterministic.
      by_format: { ...this.stats.by_format },
    };
    return { target, kind, clean: errors + warnings === 0, errors, warnings, notes, checks, stats };
  }
}

function where(e: FindingExample): string {
  return [e.file, e.member !== undefined ? `member ${e.member}` : '', e.row !== undefined ? `row ${e.row}` : ''].filter(Boolean).join(': ');
}

/** `77 rows, 77 frames in each of parquet, arrow`, or per format when they differ. */
function rowsLine(s: ValidationStats): string {
  const f = Object.entries(s.by_format);
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (f.length <= 1) return `${plural(s.rows, 'row')}, ${plural(s.frames, 'frame')}`;
  if (f.every(([, x]) => x.rows === s.rows && x.frames === s.frames))
    return `${plural(s.rows, 'row')}, ${plural(s.frames, 'frame')} in each of ${f.map(([n]) => n).join(', ')}`;
  return f.map(([n, x]) => `${n} ${plural(x.rows, 'row')}, ${plural(x.frames, 'frame')}`).join('; ');
}

export function formatReport(r: ValidationReport): string {
  const out: string[] = [];
  const s = r.stats;
  out.push(
    `validate ${r.target} (${r.kind}): ${s.files} files, ${(s.bytes / 1e6).toFixed(1)} MB, ${rowsLine(s)}, ${s.masked} [masked] values`,
  );
  if (r.clean) {
    out.push(r.notes ? `clean: no errors or warnings, ${r.notes} note(s)` : 'clean: no findings');
    if (!r.notes) return out.join('\n') + '\n';
  }
  for (const sev of ['error', 'warning', 'note'] as const) {
    for (const c of r.checks.filter((x) => x.severity === sev)) {
      out.push('');
      out.push(`${sev.toUpperCase()} ${c.id} (${c.count}): ${c.hint}`);
      for (const e of c.examples) out.push(`  ${where(e)}: ${e.message}`);
      if (c.count > c.examples.length) out.push(`  ... and ${c.count - c.examples.length} more`);
    }
  }
  if (r.clean) return out.join('\n') + '\n';
  out.push('');
  out.push(`${r.errors} error(s), ${r.warnings} warning(s)${r.notes ? `, ${r.notes} note(s)` : ''}`);
  return out.join('\n') + '\n';
}

/** 0 clean, 1 any error (or any warning with strict). */
export function exitCodeOf(r: ValidationReport, strict: boolean): number {
  return r.errors > 0 || (strict && r.warnings > 0) ? 1 : 0;
}
