/**
 * Setup file of the fast tier (vitest.config.ts, project "fast"): every way to start a child
 * process throws, so a test that runs the CLI, Python or an emulator fails there with a message
 * saying where it belongs, instead of quietly making the fast tier slow. Worker threads stay allowed.
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';

const refuse = (name: string) => () => {
  throw new Error(
    `child_process.${name} in the fast tier: a test that starts a process (CLI, Python, emulator) ` +
      'belongs in the full tier; name its file *.test.ts instead of *.fast.test.ts',
  );
};

const patched = childProcess as unknown as Record<string, unknown>;
for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) patched[name] = refuse(name);
// Named imports (`import { spawn } from 'node:child_process'`) see the patched functions too.
syncBuiltinESMExports();
