/**
 * The export manifest's counts against what was read: `inspect` reports them, `convert` warns on a
 * difference (and stops with --strict). `sessions` is checked only when the manifest carries it
 * (the vendor's documented manifest does not).
 */
import type { ExportManifest } from './manifest-types.ts';

export type CountField = 'rows' | 'sessions' | 'frames' | 'actions' | 'shards';

export interface ManifestCheck {
  field: CountField;
  manifest: number;
  actual: number;
  ok: boolean;
}

export interface ExportCounts {
  rows: number;
  sessions: number;
  /** Rows that reference a frame (embedded or by URL). */
  frames: number;
  actions: number;
  /** Data files. */
  shards: number;
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function checkManifestCounts(manifest: ExportManifest, counts: ExportCounts): ManifestCheck[] {
  const check = (field: CountField, expected: number): ManifestCheck => ({
    field,
    manifest: expected,
    actual: counts[field],
    ok: expected === counts[field],
  });
  const checks = [check('rows', manifest.rows)];
  if (isCount(manifest.raw.sessions)) checks.push(check('sessions', manifest.raw.sessions));
  checks.push(check('frames', manifest.frames), check('actions', manifest.actions), check('shards', manifest.shards));
  return checks;
}

/** `manifest rows is 80 but the export has 77` */
export function mismatchText(c: ManifestCheck): string {
  return `manifest ${c.field} is ${c.manifest} but the export has ${c.actual}`;
}
