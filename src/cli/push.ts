/**
 * `nusomi-hf push <dataset dir> --repo org/name`: publish a dataset version to the Hub. The work is
 * in src/hub/push.ts; this module parses flags, draws the progress bar (TTY only) and prints the
 * summary, the plan (--dry-run) or one JSON object (--json).
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import type { OutputFormat } from '../hf/dataset-manifest.ts';
import { ALL_FORMATS } from '../hub/plan.ts';
import type { PushPlan } from '../hub/plan.ts';
import type { PushProgressEvent, PushResult } from '../hub/push.ts';
import { plural } from '../plural.ts';
import { say, verbosity } from './output.ts';
import { assertLocalInputExists } from './system-errors.ts';

interface PushFlags {
  repo: string;
  tag?: string;
  forceTag?: boolean;
  branch: string;
  private?: boolean;
  formats: string;
  message?: string;
  hubUrl?: string;
  dryRun?: boolean;
  json?: boolean;
  /** commander's negation of --no-xet: true unless given. */
  xet: boolean;
}

export function registerPush(program: Command): void {
  program
    .command('push <dataset-dir>')
    .description('publish a dataset version to a Hugging Face Hub dataset repo (incremental, resumable)')
    .requiredOption('--repo <org/name>', 'dataset repo id')
    .option('--tag <tag>', 'tag the pushed commit, e.g. v1')
    .option('--force-tag', 'move --tag when it already points at another commit')
    .option('--branch <branch>', 'branch to push to', 'main')
    .option('--private', 'create the repo private (when push creates it)')
    .option('--formats <list>', `formats to upload: ${ALL_FORMATS.join(',')}`, 'parquet')
    .option('--message <title>', 'commit title')
    .option('--hub-url <url>', 'Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)')
    .option('--dry-run', 'print what would be uploaded and deleted; change nothing')
    .option('--json', 'print a machine-readable summary')
    .option('--no-xet', 'upload over plain LFS even when the Hub offers Xet (which sends only chunks it does not store yet)')
    .action(async (dir: string, flags: PushFlags) => {
      assertLocalInputExists(dir);
      const formats = parseFormats(flags.formats);
      const progress = !flags.json && !flags.dryRun && verbosity() !== 'quiet' && process.stderr.isTTY ? new PushProgressBar() : null;
      let result: PushResult;
      try {
        result = await (await import('../hub/push.ts')).pushDataset({
          dir,
          repo: flags.repo,
          branch: flags.branch,
          formats,
          ...(flags.tag !== undefined && { tag: flags.tag }),
          ...(flags.forceTag && { forceTag: true }),
          ...(flags.private && { private: true }),
          ...(flags.message !== undefined && { message: flags.message }),
          ...(flags.hubUrl !== undefined && { hubUrl: flags.hubUrl }),
          ...(flags.dryRun && { dryRun: true }),
          ...(!flags.xet && { xet: false }),
          ...(progress && { onProgress: (e: PushProgressEvent) => progress.on(e) }),
        });
      } finally {
        progress?.stop();
      }
      const { loadHint } = await import('../hub/push.ts');
      if (flags.json) process.stdout.write(JSON.stringify(jsonSummary(result)) + '\n');
      // A dry run's plan is the output asked for, quiet or not.
      else if (flags.dryRun) process.stdout.write(describePlan(result));
      else say(describeResult(result, loadHint));
    });
}

function parseFormats(list: string): OutputFormat[] {
  const formats = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const f of formats) {
    if (!(ALL_FORMATS as string[]).includes(f))
      throw new UsageError(`--formats: unknown format "${f}" (expected ${ALL_FORMATS.join(', ')})`);
  }
  if (!formats.length) throw new UsageError('--formats: give at least one format');
  return formats as OutputFormat[];
}

export function jsonSummary(r: PushResult): Record<string, unknown> {
  const summary: Record<string, unknown> = {
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
  };
  if (r.dry_run) summary.plan = planJson(r.plan);
  return summary;
}

function planJson(p: PushPlan): Record<string, unknown> {
  return {
    add: p.add.map((f) => ({ path: f.path, bytes: f.bytes })),
    change: p.change.map((f) => ({ path: f.path, bytes: f.bytes })),
    delete: p.delete.map((f) => ({ path: f.path, bytes: f.size })),
    unchanged: p.unchanged.length,
    upload_bytes: p.uploadBytes,
  };
}

function describePlan(r: PushResult): string {
  const p = r.plan;
  const lines = [`dry run: push to ${r.repo}@${r.branch} (${r.hub_url}) would`];
  for (const f of p.add) lines.push(`  add     ${f.path} (${formatBytes(f.bytes)})`);
  for (const f of p.change) lines.push(`  change  ${f.path} (${formatBytes(f.bytes)})`);
  for (const f of p.delete) lines.push(`  delete  ${f.path}`);
  lines.push(
    `${p.add.length} to add, ${p.change.length} to change, ${p.delete.length} to delete, ${p.unchanged.length} unchanged; ` +
      `${formatBytes(p.uploadBytes)} to upload at most (less where the Hub already stores the bytes), ${formatBytes(r.skipped_bytes)} skipped as unchanged` +
      `${r.tag ? `; then tag ${r.tag}` : ''}. Nothing was changed.`,
  );
  return lines.join('\n') + '\n';
}

function describeResult(r: PushResult, loadHint: (r: PushResult) => string): string {
  const lines: string[] = [];
  if (r.commits.length === 0) {
    lines.push(`nothing to push: ${r.repo}@${r.branch} already has this version (${plural(r.unchanged_files, 'file')} unchanged)`);
  } else {
    lines.push(
      `pushed ${r.repo}@${r.branch}${r.created_repo ? ' (new repo)' : ''}: ${plural(r.uploaded_files, 'file')} uploaded (${formatBytes(r.uploaded_bytes)}), ` +
        `${r.deleted_files} deleted, ${r.unchanged_files} unchanged, ${r.commits.length} commit${r.commits.length === 1 ? '' : 's'}`,
    );
    lines.push(
      `sent ${formatBytes(r.sent_bytes ?? 0)}${r.transfer ? ` over ${r.transfer === 'xet' ? 'Xet' : 'LFS'}` : ''}, ` +
        `${formatBytes(r.deduplicated_bytes ?? 0)} deduplicated, ${formatBytes(r.skipped_bytes)} skipped (already on the Hub)`,
    );
  }
  lines.push(`commit: ${r.commit}`);
  if (r.tag) lines.push(`tag: ${r.tag}`);
  lines.push(`load it: ${loadHint(r)}`);
  return lines.join('\n') + '\n';
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Two bars on stderr: files done and bytes done (of the planned uploads). */
class PushProgressBar {
  readonly #multi = new cliProgress.MultiBar(
    { stream: process.stderr, clearOnComplete: false, hideCursor: true, format: ' {label} [{bar}] {value}/{total} {unit}' },
    cliProgress.Presets.shades_classic,
  );
  #files: cliProgress.SingleBar | null = null;
  #bytes: cliProgress.SingleBar | null = null;
  #doneBytes = 0;
  #totalBytes = '';

  on(e: PushProgressEvent): void {
    if (e.kind === 'plan') {
      const n = e.plan.add.length + e.plan.change.length;
      if (n === 0) return;
      this.#files = this.#multi.create(n, 0, { label: 'files', unit: 'files' });
      this.#totalBytes = formatBytes(e.plan.uploadBytes);
      this.#bytes = this.#multi.create(
        Math.max(1, e.plan.uploadBytes),
        0,
        { label: 'bytes', shown: `${formatBytes(0)}/${this.#totalBytes}` },
        { format: ' {label} [{bar}] {shown}' },
      );
    } else if (e.kind === 'file') {
      this.#files?.increment(1);
      this.#doneBytes += e.bytes;
      this.#bytes?.increment(e.bytes, { shown: `${formatBytes(this.#doneBytes)}/${this.#totalBytes}` });
    }
  }

  stop(): void {
    this.#multi.stop();
  }
}
