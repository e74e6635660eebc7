/**
 * What a push reports: the public `push` returns it and `nusomi-hf push --json` prints it. Plain
 * data (no class instances), snake_case like the other JSON outputs.
 */
import type { PushPlan } from './plan.ts';
import type { PushResult } from './push.ts';

/** A dry run's plan: files to add, change and delete, and the bytes to upload at most. */
export interface PushPlanSummary {
  add: Array<{ path: string; bytes: number }>;
  change: Array<{ path: string; bytes: number }>;
  delete: Array<{ path: string; bytes: number }>;
  /** Files already on the branch as they are here. */
  unchanged: number;
  upload_bytes: number;
}

/** A push's result as plain data (the fields are documented on PushResult); the plan only on a dry run. */
export interface PushSummary extends Omit<PushResult, 'plan'> {
  /** On a dry run only: what the push would do. */
  plan?: PushPlanSummary;
}

export function pushSummary(r: PushResult): PushSummary {
  const { plan, ...summary } = r;
  return r.dry_run ? { ...summary, plan: planSummary(plan) } : summary;
}

function planSummary(p: PushPlan): PushPlanSummary {
  return {
    add: p.add.map((f) => ({ path: f.path, bytes: f.bytes })),
    change: p.change.map((f) => ({ path: f.path, bytes: f.bytes })),
    delete: p.delete.map((f) => ({ path: f.path, bytes: f.size })),
    unchanged: p.unchanged.length,
    upload_bytes: p.uploadBytes,
  };
}
