/**
 * The one way tests run `nusomi-hf` as a child process: `node --import tsx src/cli/main.ts <args>`
 * from the repo root, as a user runs the CLI (real argv parsing, exit code, stdout and stderr).
 * Full tier only: the fast tier refuses child processes (test/helpers/no-child-process.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './python.ts';

/** The CLI from its TypeScript sources (what tests run unless they test the build). */
export const CLI_SOURCE = path.join(repoRoot, 'src', 'cli', 'main.ts');
/** The published entry point (bin/nusomi-hf.js: the bundle in dist/ when built, else the sources). */
export const CLI_BIN = path.join(repoRoot, 'bin', 'nusomi-hf.js');

export interface CliOptions {
  /** Merged over process.env; a key set to undefined is left out of the child's environment. */
  env?: Record<string, string | undefined>;
  /** Working directory; the repo root unless set. */
  cwd?: string;
  /** Node flags before the entry, e.g. `--max-old-space-size=256`. */
  nodeArgs?: string[];
  /** A JavaScript entry run without tsx (CLI_BIN, dist/cli/main.js); the TypeScript sources unless set. */
  entry?: string;
  /** Default: stdin ignored, stdout and stderr piped. */
  stdio?: StdioOptions;
}

export interface CliRun {
  /** Exit code; -1 when the process died of a signal. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Node's argv for a CLI run: the tsx loader only for the TypeScript sources. */
export function cliArgv(args: string[], opts: Pick<CliOptions, 'nodeArgs' | 'entry'> = {}): string[] {
  const entry = opts.entry ? [opts.entry] : ['--import', 'tsx', CLI_SOURCE];
  return [...(opts.nodeArgs ?? []), ...entry, ...args];
}

/** Start `nusomi-hf <args>` and return the child, for tests that watch or kill it while it runs. */
export function spawnCli(args: string[], opts: CliOptions = {}): ChildProcess {
  return spawnNode(cliArgv(args, opts), opts);
}

/** Start `node --import tsx <script> <args>` (scripts/make-samples.ts and the like). */
export function spawnScript(script: string, args: string[], opts: Omit<CliOptions, 'entry'> = {}): ChildProcess {
  return spawnNode([...(opts.nodeArgs ?? []), '--import', 'tsx', path.resolve(repoRoot, script), ...args], opts);
}

function spawnNode(argv: string[], opts: CliOptions): ChildProcess {
  return spawn(process.execPath, argv, {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
}

/** Wait for a child started by spawnCli/spawnScript; collects what it printed. */
export function finished(child: ChildProcess): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
}

/** `nusomi-hf <args>` to the end, whatever its exit code. `env` is merged over process.env. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
  opts: Omit<CliOptions, 'env' | 'stdio'> = {},
): Promise<CliRun> {
  return finished(spawnCli(args, { ...opts, env }));
}

/** `nusomi-hf <args>` that must exit 0; otherwise throws with its stderr. */
export async function cliOk(
  args: string[],
  env: Record<string, string | undefined> = {},
  opts: Omit<CliOptions, 'env' | 'stdio'> = {},
): Promise<CliRun> {
  const r = await runCli(args, env, opts);
  if (r.code !== 0) throw new Error(`nusomi-hf ${args[0] ?? ''} exited ${r.code}${r.signal ? ` (${r.signal})` : ''}:\n${r.stderr}`);
  return r;
}

/** `node --import tsx <script> <args>` that must exit 0. */
export async function scriptOk(script: string, args: string[], opts: Omit<CliOptions, 'entry' | 'stdio'> = {}): Promise<CliRun> {
  const r = await finished(spawnScript(script, args, opts));
  if (r.code !== 0) throw new Error(`${script} exited ${r.code}:\n${r.stderr}`);
  return r;
}

/**
 * `nusomi-hf <args>` run synchronously, for tests that run it from sync code. It blocks this worker's
 * event loop: never use it while the test also serves the CLI (a Hub or an emulator in this process).
 */
export function runCliSync(
  args: string[],
  env: Record<string, string | undefined> = {},
  opts: Omit<CliOptions, 'env' | 'stdio'> = {},
): CliRun {
  const r = spawnSync(process.execPath, cliArgv(args, opts), {
    cwd: opts.cwd ?? repoRoot,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
