import type { Command } from 'commander';
import { inspect } from '../api/inspect.ts';
import { addInputOptions, inputOptionsOf } from './input-options.ts';
import type { InputFlags } from './input-options.ts';
import { say } from './output.ts';

/**
 * `nusomi-hf inspect <export> [--json]`: exit 0 when the manifest matches and every row and frame
 * reads, else 1. Bad rows are counted and the first ones shown, not just the first.
 */
export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect <export>')
    .description('read a whole export and report counts, frames and manifest consistency (exit 1 when anything is off)')
    .option('--json', 'print the report as one JSON object');
  addInputOptions(cmd).action(async (root: string, opts: { json?: boolean } & InputFlags) => {
    // Loaded per command, not at startup (see program.ts).
    const { formatInspectReport, inspectFailures, inspectPassed } = await import('../export/inspect.ts');
    const report = await inspect({ export: root, ...inputOptionsOf(opts) });
    if (opts.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else say(formatInspectReport(report));
    if (!inspectPassed(report)) {
      for (const f of inspectFailures(report)) process.stderr.write(`nusomi-hf: ${f}\n`);
      process.exitCode = 1;
    }
  });
}
