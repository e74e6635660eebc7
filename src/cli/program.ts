/**
 * The `nusomi-hf` command line. Each subcommand lives in its own module under src/cli/ and
 * registers itself here. One error style: `nusomi-hf: error: <one line>`, never a stack trace for
 * what a user can act on (NusomiError, a bad flag, a missing file, a busy port); usage errors add
 * one line pointing to `--help`.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { NusomiError, UsageError } from '../errors.ts';
import { registerConvert } from './convert.ts';
import { registerInspect } from './inspect.ts';
import { registerHub } from './hub.ts';
import { registerPush } from './push.ts';
import { registerValidate } from './validate.ts';
import { registerLoaders } from './loaders.ts';
import { registerReport } from './report.ts';
import { setVerbosity } from './output.ts';
import { describeSystemError } from './system-errors.ts';

export const EXIT_CODES = `
Exit codes:
  0   success
  1   bad input, a failed check, or a file/network error (the message names the file)
  2   usage error (a bad flag or value)
  70  internal error (a bug in nusomi-hf: please report it with the --verbose output)
`;

/** package.json sits two folders up from src/cli and from the bundle's dist/cli alike. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** `nusomi-hf hub serve` for a command's own usage pointer. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

function leaves(cmd: Command): Command[] {
  return cmd.commands.length ? cmd.commands.flatMap(leaves) : [cmd];
}

/** The command whose action runs (set before it runs), for the `--help` pointer of its usage errors. */
let running: Command | undefined;

export function buildProgram(): Command {
  const program = new Command('nusomi-hf')
    .description('Turn session-capture exports into Hugging Face / PyTorch training data.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .configureOutput({ outputError: (str, write) => write(`nusomi-hf: ${str}`) })
    .addHelpText('afterAll', EXIT_CODES)
    .exitOverride();
  registerInspect(program);
  registerConvert(program);
  registerHub(program);
  registerPush(program);
  registerValidate(program);
  registerLoaders(program);
  registerReport(program);
  // Every command: the same output flags, one-line usage errors with a pointer to its own help.
  for (const cmd of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
    cmd.showHelpAfterError(`(see '${commandPath(cmd)} --help')`);
  }
  for (const cmd of leaves(program)) {
    cmd.option('-q, --quiet', 'print only errors (and --json output)');
    if (!cmd.options.some((o) => o.long === '--verbose'))
      cmd.option('--verbose', 'print details: every file written, every problem found, stack traces of internal errors');
  }
  program.hook('preAction', (_program, action) => {
    running = action;
    const o = action.opts<{ quiet?: boolean; verbose?: boolean }>();
    if (o.quiet && o.verbose) throw new UsageError('--quiet and --verbose exclude each other');
    setVerbosity(o.quiet ? 'quiet' : o.verbose ? 'verbose' : 'normal');
  });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  running = undefined;
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    // commander already printed its one line (and the --help pointer); --help and --version exit 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof NusomiError) {
      process.stderr.write(`nusomi-hf: error: ${err.message}\n`);
      if (err instanceof UsageError && running) process.stderr.write(`(see '${commandPath(running)} --help')\n`);
      return err.exitCode;
    }
    const system = describeSystemError(err);
    if (system !== undefined) {
      process.stderr.write(`nusomi-hf: error: ${system}\n`);
      return 1;
    }
    throw err;
  }
}
