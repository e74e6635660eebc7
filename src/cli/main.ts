/** Entry point: `tsx src/cli/main.ts ...` and bin/nusomi-hf.js. The program itself is in program.ts. */
import { verbosity } from './output.ts';
import { main } from './program.ts';

// Run when executed directly (tsx src/cli/main.ts ... or bin/nusomi-hf.js).
const argv = process.argv.slice(2);
main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // A bug, not a user error: one line, the stack only with --verbose.
    const stack = verbosity() === 'verbose' && err instanceof Error ? `\n${err.stack}` : '';
    process.stderr.write(
      `nusomi-hf: internal error: ${err instanceof Error ? err.message : String(err)}${stack}\n` +
        (stack ? '' : 'nusomi-hf: this is a bug; rerun with --verbose for the stack trace and report it\n'),
    );
    process.exitCode = 70;
  },
);
