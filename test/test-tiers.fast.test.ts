/**
 * The fast tier's rule holds by construction: in a *.fast.test.ts file every way to start a child
 * process throws (test/helpers/no-child-process.ts), so a test that needs the CLI, Python or an
 * emulator cannot land in the fast tier by mistake.
 */
import childProcess, { execFile, spawn, spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { runPython } from './helpers/python.ts';

it('named imports, the default export and the shared helpers all refuse to start a process', async () => {
  expect(() => spawn(process.execPath, ['-e', ''])).toThrow(/fast tier.*belongs in the full tier/);
  expect(() => spawnSync(process.execPath, ['-e', ''])).toThrow(/fast tier/);
  expect(() => execFile(process.execPath, ['-e', ''])).toThrow(/fast tier/);
  expect(() => childProcess.fork('-e')).toThrow(/fast tier/);
  expect(() => childProcess.execSync('true')).toThrow(/fast tier/);
  expect(() => runCli(['--help'])).toThrow(/fast tier/);
  await expect(runPython('print(1)')).rejects.toThrow(/fast tier/);
});
