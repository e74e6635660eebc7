/**
 * The `nusomi-hf` command line. Each subcommand lives in its own module under src/cli/ and
 * registers itself here. Errors that users can act on (NusomiError) print one line, no stack.
 */
import { Command, CommanderError } from 'commander';
import { NusomiError } from '../errors.ts';
import { registerConvert } from './convert.ts';
import { registerInspect } from './inspect.ts';
import { registerHub } from './hub.ts';
import { registerPush } from './push.ts';
import { registerValidate } from './validate.ts';
import { registerLoaders } from './loaders.ts';

export function buildProgram(): Command {
  const program = new Command('nusomi-hf')
    .description('Turn session-capture exports into Hugging Face / PyTorch training data.')
    .showHelpAfterError()
    .exitOverride();
  registerInspect(program);
  registerConvert(program);
  registerHub(program);
  registerPush(program);
  registerValidate(program);
  registerLoaders(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof NusomiError) {
      process.stderr.write(`nusomi-hf: error: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}

