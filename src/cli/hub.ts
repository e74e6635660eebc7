import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { say, warn } from './output.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Storage outside any working tree, so a repo never picks it up: $XDG_DATA_HOME/nusomi-hf/hub. */
function defaultHubDir(): string {
  const data = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(data, 'nusomi-hf', 'hub');
}

/** `nusomi-hf hub serve`: a local Hugging Face Hub for offline tests, CI and dry runs. */
export function registerHub(program: Command): void {
  const hub = program.command('hub').description('a local Hugging Face Hub server');
  hub
    .command('serve')
    .description('serve a local Hub that @huggingface/hub, huggingface_hub and datasets accept (storage survives restarts)')
    .option('--dir <dir>', 'storage directory', defaultHubDir())
    .option('--port <port>', 'port to listen on (0 picks a free one)', '0')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--verbose', 'log one line per request to stderr')
    .action(async (opts: { dir: string; port: string; host: string; verbose?: boolean }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(opts.port)}`);
      const { startHubServer } = await import('../hub/server.ts');
      const server = await startHubServer({
        dir: opts.dir,
        port,
        host: opts.host,
        log: opts.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
      });
      if (!LOOPBACK.has(opts.host)) warn(`listening on ${opts.host}, not loopback: anyone who can reach it can read public repos`);
      say(
        `Hub server listening on ${server.url} (storage: ${opts.dir})\n` +
        `  Python:  HF_ENDPOINT=${server.url} HF_HUB_DISABLE_XET=1 HF_TOKEN=hf_...\n` +
        `  JS:      hubUrl: "${server.url}", accessToken: "hf_..."\n` +
        'Press Ctrl+C to stop.\n',
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => { void server.stop().then(resolve, resolve); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
