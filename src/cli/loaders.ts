/**
 * `nusomi-hf loaders <dataset dir | org/name[@revision]> --out <dir>`: write pinned Python loader
 * modules (one per target) and a README. The work is in src/loaders/.
 */
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { plural } from '../plural.ts';
import { say } from './output.ts';
import { ALL_TARGETS } from '../loaders/targets.ts';
import type { LoaderTarget } from '../loaders/targets.ts';

interface LoadersFlags {
  out: string;
  targets?: string;
  name?: string;
  hubUrl?: string;
}

export function registerLoaders(program: Command): void {
  program
    .command('loaders <dataset>')
    .description('generate pinned Python loaders (hf, torch-wds, torch-parquet, ray) for a dataset dir or a Hub repo[@revision]')
    .requiredOption('-o, --out <dir>', 'directory to write the modules and README.md into')
    .option('--targets <list>', `targets: ${ALL_TARGETS.join(',')} (default: every one the dataset's formats allow)`)
    .option('--name <name>', 'dataset name in module names (default: the repo name, else the workflow)')
    .option('--hub-url <url>', 'Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)')
    .action(async (dataset: string, flags: LoadersFlags) => {
      const { generateLoaders } = await import('../loaders/generate.ts');
      const r = await generateLoaders({
        source: dataset,
        out: flags.out,
        ...(flags.targets !== undefined && { targets: parseTargets(flags.targets) }),
        ...(flags.name !== undefined && { name: flags.name }),
        ...(flags.hubUrl !== undefined && { hubUrl: flags.hubUrl }),
      });
      const pin =
        r.origin.kind === 'hub'
          ? `${r.origin.repo}@${r.origin.revision}${r.origin.tag ? ` (tag ${r.origin.tag})` : ''}`
          : 'a local dataset (root given at run time)';
      say(`wrote ${plural(r.files.length, 'file')} to ${flags.out}, pinned to ${pin}:\n${r.files.map((f) => `  ${f}`).join('\n')}\n`);
    });
}

function parseTargets(list: string): LoaderTarget[] {
  const targets = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const t of targets) {
    if (!(ALL_TARGETS as readonly string[]).includes(t))
      throw new UsageError(`--targets: unknown target "${t}" (expected ${ALL_TARGETS.join(', ')})`);
  }
  if (!targets.length) throw new UsageError('--targets: give at least one target');
  return [...new Set(targets)] as LoaderTarget[];
}
