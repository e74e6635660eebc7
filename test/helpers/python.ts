/**
 * The real-consumer harness: run a Python snippet in the project's .venv (datasets, pyarrow,
 * torch, ...) and get back the JSON it prints. Tests use this to check our outputs with the tools
 * our users run. The venv is made by scripts/python-env.sh (part of `npm test`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const venvPython = path.join(repoRoot, '.venv', 'bin', 'python');

export interface PythonOptions {
  /** Extra argv, available to the snippet as sys.argv[1:]. */
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

export interface PythonRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a snippet; resolves with exit code and output whatever the code (for tests of failures). */
export function runPythonRaw(snippet: string, opts: PythonOptions = {}): Promise<PythonRun> {
  if (!existsSync(venvPython)) {
    throw new Error(`${venvPython} is missing: run "bash scripts/python-env.sh" (npm test does)`);
  }
  return new Promise((resolve, reject) => {
    const child = spawn(venvPython, ['-c', snippet, ...(opts.args ?? [])], {
      cwd: opts.cwd ?? repoRoot,
      // Offline and quiet: the consumers must never reach a real hub from tests.
      env: {
        ...process.env,
        HF_HUB_OFFLINE: '1',
        HF_DATASETS_OFFLINE: '1',
        PYTHONWARNINGS: 'ignore',
        TOKENIZERS_PARALLELISM: 'false',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * Run a snippet that prints one JSON value as its last stdout line; returns it parsed.
 * Fails with the snippet's stderr when Python exits non-zero.
 */
export async function runPython<T = unknown>(snippet: string, opts: PythonOptions = {}): Promise<T> {
  const r = await runPythonRaw(snippet, opts);
  if (r.code !== 0) throw new Error(`python exited ${r.code}:\n${r.stderr.slice(-4000)}`);
  const lines = r.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`python printed no JSON on its last line:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  }
}
