import type { Command } from 'commander';
import { addInputOptions, inputOptionsOf } from './input-options.ts';
import type { InputFlags } from './input-options.ts';

/** `nusomi-hf inspect <export> [--json]`: exit 0 when the manifest matches and every frame reads, else 1. */
export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect <export>')
    .description('read a whole export and report counts, frames and manifest consistency')
    .option('--json', 'print the report as one JSON object');
  addInputOptions(cmd)
    .action(async (root: string, opts: { json?: boolean } & InputFlags) => {
      // Loaded per command, not at startup (see program.ts).
      const { formatInspectReport, inspectExport, inspectFailures, inspectPassed } = await import('../export/inspect.ts');
      const input = inputOptionsOf(opts);
      const report = await inspectExport(root, { limits: input.limits, allowRemote: input.allowRemoteFrames });
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatInspectReport(report));
      if (!inspectPassed(report)) {
        for (const f of inspectFailures(report)) process.stderr.write(`nusomi-hf: ${f}\n`);
        process.exitCode = 1;
      }
    });
}
