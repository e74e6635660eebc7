import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { report } from '../api/report.ts';
import { addInputOptions, inputOptionsOf } from './input-options.ts';
import type { InputFlags } from './input-options.ts';
import { say } from './output.ts';

function wholeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('Expected a whole number.');
  return n;
}

/**
 * `nusomi-hf report <target> --out <dir>`: a static HTML report of an export or a dataset (local,
 * s3://, az://, or hf://datasets/<owner>/<name>@<revision>) that opens from file://.
 */
export function registerReport(program: Command): void {
  const cmd = program
    .command('report <target>')
    .description('write a self-contained HTML report (overview, click heatmaps, frame gallery, session player) of an export or a dataset')
    .requiredOption('-o, --out <dir>', 'folder to write index.html and assets/ into (new, empty, or an earlier report)')
    .option(
      '--max-frames <n>',
      'frames sampled for the gallery and player (whole sessions, chosen by a hash of their id)',
      wholeNumber,
      200,
    )
    .option('--hub-url <url>', 'Hub endpoint for hf:// targets (default $HF_ENDPOINT or https://huggingface.co)')
    .option('--no-validate', 'do not run validate on a dataset target')
    .option('--json', 'print a summary as one JSON object');
  addInputOptions(cmd).action(
    async (target: string, opts: InputFlags & { out: string; maxFrames: number; hubUrl?: string; validate: boolean; json?: boolean }) => {
      const input = inputOptionsOf(opts);
      const r = await report({
        target,
        out: opts.out,
        maxFrames: opts.maxFrames,
        limits: input.limits,
        allowRemoteFrames: input.allowRemoteFrames,
        hubUrl: opts.hubUrl,
        validate: opts.validate,
      });
      if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
      else
        say(
          `report of the ${r.kind} (${r.rows} rows, ${r.sessions} sessions, ${r.frames_sampled} frames sampled): ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB\n` +
            `open ${opts.out.replace(/\/+$/, '')}/index.html\n`,
        );
    },
  );
}
