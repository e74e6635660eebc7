/** Entry point: `tsx src/cli/main.ts ...` and bin/nusomi-hf.js. The program itself is in program.ts. */
import { main } from './program.ts';

// Run when executed directly (tsx src/cli/main.ts ... or bin/nusomi-hf.js).
const argv = process.argv.slice(2);
main(argv).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`nusomi-hf: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 70;
  },
);
