import type { Command } from 'commander';
import { NusomiError } from '../errors.ts';

// Placeholder registration; the inspect report is built in src/export/inspect.ts (issue 2).
export function registerInspect(program: Command): void {
  program
    .command('inspect <export>')
    .description('read a whole export and report counts, frames and manifest consistency')
    .option('--json', 'print the report as one JSON object')
    .action(async () => {
      throw new NusomiError('inspect is not built yet');
    });
}
