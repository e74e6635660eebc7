import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { addInputOptions, inputOptionsOf } from './input-options.ts';
import type { InputFlags } from './input-options.ts';
import { say } from './output.ts';
import { validate } from '../api/validate.ts';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('Expected a positive integer.');
  return n;
}

/**
 * `nusomi-hf validate <target...>`: exit 0 clean, 1 when any error (or warning with --strict),
 * or when there was nothing whole to check (src/validate/completeness.ts), 2 on usage errors.
 */
export function registerValidate(program: Command): void {
  const cmd = program
    .command('validate <target...>')
    .description('check a dataset directory, an export, or loose .tar/.parquet/.arrow files before training')
    .option('--world-size <n>', 'training ranks (shard balance checks)', positiveInt, 1)
    .option('--workers <n>', 'DataLoader workers per rank (shard balance checks)', positiveInt, 1)
    .addOption(
      new Option('--decode <mode>', 'frames: header (size from the header) or full (decode every pixel)')
        .choices(['header', 'full'])
        .default('header'),
    )
    .option('--json', 'print one JSON object')
    .option('--max-findings <n>', 'examples shown per check', positiveInt, 10)
    .option('--strict', 'warnings fail the run too');
  // The input limits and --allow-remote-frames apply where validate reads an export and its lines.
  addInputOptions(cmd).action(
    async (
      targets: string[],
      opts: InputFlags & {
        worldSize: number;
        workers: number;
        decode: 'header' | 'full';
        json?: boolean;
        maxFindings: number;
        strict?: boolean;
      },
    ) => {
      // A missing target is validate's own finding (target.not_found), like an empty one.
      const { exitCodeOf, formatReport } = await import('../validate/report.ts');
      const report = await validate({
        targets,
        worldSize: opts.worldSize,
        workers: opts.workers,
        decode: opts.decode,
        maxFindings: opts.maxFindings,
        ...inputOptionsOf(opts),
      });
      if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else say(formatReport(report));
      process.exitCode = exitCodeOf(report, opts.strict === true);
    },
  );
}
