/**
 * `nusomi-hf loaders <dataset dir | org/name[@revision]> --out <dir>`: write pinned Python loader
 * modules (one per target) and a README. The work is in src/loaders/.
 */
import type { Command } from 'commander';
import { generateLoaders } from '../api/generate-loaders.ts';
import type { LoaderTarget } from '../api/generate-loaders.ts';
import { plural } from '../plural.ts';
import { say } from './output.ts';
import { ALL_TARGETS } from '../loaders/targets.ts';

interface LoadersFlags {
  out: string;
  targets?: string;
  name?: string;
  hubUrl?: string;
  json?: boolean;
}

export function registerLoaders(program: Command): void {
  program
    .command('loaders <dataset>')
    .description('generate pinned Python loaders (hf, torch-wds, torch-parquet, ray) for a dataset dir or a Hub repo[@revision]')
    .requiredOption('-o, --out <dir>', 'directory to write the modules and README.md into')
    .option('--targets <list>', `targets: ${ALL_TARGETS.join(',')} (default: every one the dataset's formats allow)`)
    .option('--name <name>', 'dataset name in module names (default: the repo name, else the workflow)')
    .option('--hub-url <url>', 'Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)')
    .option('--json', 'print one JSON object: the name, where the loaders are pinned, the targets and files written')
    .action(async (dataset: string, flags: LoadersFlags) => {
      const r = await generateLoaders({
        dataset,
        out: flags.out,
        ...(flags.targets !== undefined && { targets: parseTargets(flags.targets) }),
        ...(flags.name !== undefined && { name: flags.name }),
        ...(flags.hubUrl !== undefined && { hubUrl: flags.hubUrl }),
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      const pin =
        r.origin.kind === 'hub'
          ? `${r.origin.repo}@${r.origin.revision}${r.origin.tag ? ` (tag ${r.origin.tag})` : ''}`
          : 'a local dataset (root given at run time)';
      say(`wrote ${plural(r.files.length, 'file')} to ${flags.out}, pinned to ${pin}:\n${r.files.map((f) => `  ${f}`).join('\n')}\n`);
    });
}

/** A comma list; generateLoaders checks the names. */
function parseTargets(list: string): LoaderTarget[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean) as LoaderTarget[];
}
