/**
 * `nusomi-hf push <dataset dir> --repo org/name`: publish a dataset version to the Hub. The work is
 * in src/hub/push.ts; this module parses flags, draws the progress bar from its events and prints the
 * summary, the plan (--dry-run) or one JSON object (--json).
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import type { OutputFormat } from '../hf/dataset-manifest.ts';
import { ALL_FORMATS } from '../hub/plan.ts';
import { push } from '../api/push.ts';
import type { PushSummary } from '../hub/push-summary.ts';
import { plural } from '../plural.ts';
import { untilInterrupted } from '../sink/lock.ts';
import { say } from './output.ts';
import { formatBytes, progressBar, progressWanted } from './progress.ts';

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
      const formats = parseFormats(flags.formats);
      const progress = progressWanted({ json: flags.json, dryRun: flags.dryRun }) ? progressBar('push') : undefined;
      let result: PushSummary;
      try {
        // Ctrl-C aborts the push (the branch stays where it was); then the process dies of the signal.
        result = await untilInterrupted((signal) =>
          push({
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
            ...(progress && { onProgress: progress.on }),
            signal,
          }),
        );
      } finally {
        progress?.stop();
      }
      const { loadHint } = await import('../hub/push.ts');
      if (flags.json) process.stdout.write(JSON.stringify(result) + '\n');
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

function describePlan(r: PushSummary): string {
  const p = r.plan!;
  const lines = [`dry run: push to ${r.repo}@${r.branch} (${r.hub_url}) would`];
  for (const f of p.add) lines.push(`  add     ${f.path} (${formatBytes(f.bytes)})`);
  for (const f of p.change) lines.push(`  change  ${f.path} (${formatBytes(f.bytes)})`);
  for (const f of p.delete) lines.push(`  delete  ${f.path}`);
  lines.push(
    `${p.add.length} to add, ${p.change.length} to change, ${p.delete.length} to delete, ${p.unchanged} unchanged; ` +
      `${formatBytes(p.upload_bytes)} to upload at most (less where the Hub already stores the bytes), ${formatBytes(r.skipped_bytes)} skipped as unchanged` +
      `${r.tag ? `; then tag ${r.tag}` : ''}. Nothing was changed.`,
  );
  return lines.join('\n') + '\n';
}

function describeResult(r: PushSummary, loadHint: (r: PushSummary) => string): string {
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
