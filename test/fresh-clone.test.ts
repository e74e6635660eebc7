/**
 * The quickstart as a new user meets it: a fresh clone of the committed HEAD, `npm ci` (no
 * install-script warnings), `npm run main`, then every command the main job prints, pasted as
 * printed, one after the other from the clone's root. Only committed files take part.
 *
 * Two environment variables keep this quick and safe on a shared machine, both documented in the
 * scripts they steer: NUSOMI_HF_VENV lets the printed `bash scripts/python-env.sh` link this
 * checkout's .venv (or the venv NUSOMI_HF_VENV already names) instead of installing torch again, and NUSOMI_HF_HUB_PORT gives the printed
 * `hub serve` a free port. npm reuses its cache (--prefer-offline).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from './convert-fixtures.ts';
import { repoRoot } from './helpers/python.ts';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let tmp: string | undefined;
const background: ChildProcess[] = [];

afterAll(async () => {
  // Each background command runs in its own process group (detached): stop the whole group.
  for (const child of background) if (child.pid && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A command ending in `&`: started in the background; resolves once it prints `ready`. */
function startBackground(line: string, cwd: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', line], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    background.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no "${ready.source}" from: ${line}\n${out}`)), 90_000);
    const seen = (d: string): void => {
      out += d;
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.setEncoding('utf8').on('data', seen);
    child.stderr.setEncoding('utf8').on('data', seen);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`background command exited ${code}: ${line}\n${out}`));
    });
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** The commands of the main job's closing block: indented lines up to the blank line. */
function printedCommands(stdout: string): string[] {
  const lines = stdout.split('\n');
  const start = lines.findIndex((l) => l.startsWith('load it (run these'));
  if (start < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith('  ')) break;
    out.push(l.slice(2));
  }
  return out;
}

describe('fresh clone: npm ci && npm run main, then every printed command', () => {
  it('works as printed', async () => {
    tmp = await tempDir('nusomi-clone-');
    const clone = path.join(tmp, 'nusomi-hf');
    // A user's shell: no test-only Hugging Face settings, a cache of its own.
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('HF_') && !k.startsWith('NUSOMI_')),
    );
    env.HF_HOME = path.join(tmp, 'hf-home');
    // The venv to link: NUSOMI_HF_VENV when the runner gives one, else this checkout's.
    env.NUSOMI_HF_VENV = process.env.NUSOMI_HF_VENV || realpathSync(path.join(repoRoot, '.venv'));
    env.NUSOMI_HF_HUB_PORT = String(await freePort());

    const cloned = await run('git', ['clone', '-q', repoRoot, clone], tmp, env);
    expect(cloned.code, cloned.stderr).toBe(0);

    const ci = await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund'], clone, env);
    expect(ci.code, ci.stderr).toBe(0);
    // allowScripts in package.json decides esbuild's and msgpackr-extract's scripts: no warning left.
    expect(ci.stdout + ci.stderr).not.toMatch(/npm warn install-scripts/i);
    // Without those scripts the CLI bundle is built and msgpackr still loads its native extractor.
    expect(existsSync(path.join(clone, 'dist/cli/BUILT'))).toBe(true);
    const native = await run(
      process.execPath,
      ['-e', "import('msgpackr').then((m) => process.exit(m.isNativeAccelerationEnabled ? 0 : 1))"],
      clone,
      env,
    );
    expect(native.code, native.stderr).toBe(0);

    const job = await run('npm', ['run', 'main'], clone, env);
    expect(job.code, job.stderr).toBe(0);
    const commands = printedCommands(job.stdout);
    expect(commands, job.stdout).toHaveLength(5);
    expect(commands[0]).toMatch(/^bash scripts\/python-env\.sh\b/);

    for (const line of commands) {
      if (/&\s*(#.*)?$/.test(line)) {
        await startBackground(line.replace(/&\s*(#.*)?$/, ''), clone, env, /listening on http:\/\/127\.0\.0\.1:\d+/);
        continue;
      }
      const r = await run('bash', ['-c', line], clone, env);
      expect(r.code, `${line}\n${r.stderr}`).toBe(0);
      if (line.includes('load_dataset(') || line.includes('load_from_disk('))
        expect(r.stdout, line).toMatch(/DatasetDict\(\{[\s\S]*num_rows: 47/);
    }
    // Nothing the quickstart wrote shows up as a change in the clone.
    const status = await run('git', ['status', '--porcelain'], clone, env);
    expect(status.stdout).toBe('');
  }, 600_000);
});
