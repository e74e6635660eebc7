/**
 * What a push reports: the public `push` returns it and `nusomi-hf push --json` prints it. Plain
 * data (no class instances), snake_case like the other JSON outputs.
 */
import type { OutputFormat } from '../hf/dataset-manifest.ts';
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

export interface PushSummary {
  /** `org/name`. */
  repo: string;
  /** Head commit of the branch after the push (null on a dry run against a repo that does not exist). */
  commit: string | null;
  tag: string | null;
  uploaded_files: number;
  uploaded_bytes: number;
  /** How file bytes went up: `xet` (chunks the Hub did not have), `lfs` (whole files), null when none did. */
  transfer: 'xet' | 'lfs' | null;
  /** Bytes actually sent (xorbs, shards, LFS bodies); null on a dry run (known only after chunking). */
  sent_bytes: number | null;
  /** File bytes the Hub already stored as Xet chunks, so not sent; null on a dry run. */
  deduplicated_bytes: number | null;
  /** Bytes of files left alone: unchanged on the branch, or already stored by the Hub. */
  skipped_bytes: number;
  deleted_files: number;
  unchanged_files: number;
  branch: string;
  /** Commits made by this push, oldest first (empty when nothing changed). */
  commits: string[];
  /** The staging branch used when the change took more than one commit (deleted at the end). */
  staged_on: string | null;
  /** Formats present in the repo after the push. */
  formats: OutputFormat[];
  created_repo: boolean;
  dry_run: boolean;
  /** The Hub endpoint pushed to. */
  hub_url: string;
  /** On a dry run only: what the push would do. */
  plan?: PushPlanSummary;
}

export function pushSummary(r: PushResult): PushSummary {
  const summary: PushSummary = {
    repo: r.repo,
    commit: r.commit,
    tag: r.tag,
    uploaded_files: r.uploaded_files,
    uploaded_bytes: r.uploaded_bytes,
    transfer: r.transfer,
    sent_bytes: r.sent_bytes,
    deduplicated_bytes: r.deduplicated_bytes,
    skipped_bytes: r.skipped_bytes,
    deleted_files: r.deleted_files,
    unchanged_files: r.unchanged_files,
    branch: r.branch,
    commits: r.commits,
    staged_on: r.staged_on,
    formats: r.formats,
    created_repo: r.created_repo,
    dry_run: r.dry_run,
    hub_url: r.hub_url,
  };
  if (r.dry_run) summary.plan = planSummary(r.plan);
  return summary;
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
