import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { serveHub } from '../api/serve-hub.ts';
import { UsageError } from '../errors.ts';
import { say, warn } from './output.ts';

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
    .option('--host <host>', 'address to listen on; other than loopback only with --token or --tokens-file', '127.0.0.1')
    .option(
      '--token <hf_token>',
      'a token with the write role (repeatable); without --token/--tokens-file the server makes one in <dir>/token',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--tokens-file <file>', 'tokens and roles, one "hf_... read|write" per line')
    .option('--verbose', 'log one line per request to stderr')
    .option('--json', 'once listening, print one JSON line: url, port, dir, token_file (never the token)')
    .action(
      async (opts: {
        dir: string;
        port: string;
        host: string;
        token: string[];
        tokensFile?: string;
        verbose?: boolean;
        json?: boolean;
      }) => {
        // Digits only here; serveHub checks the range.
        if (!/^\d+$/.test(opts.port)) throw new UsageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(opts.port)}`);
        const server = await serveHub({
          dir: opts.dir,
          port: Number(opts.port),
          host: opts.host,
          tokens: opts.token.map((token) => ({ token, role: 'write' as const })),
          ...(opts.tokensFile !== undefined && { tokensFile: opts.tokensFile }),
          log: opts.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
        });
        // Before anything is printed: whoever reads the URL may stop the server at once.
        const stopped = new Promise<void>((resolve) => {
          const stop = (): void => {
            void server.stop().then(resolve, resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        const { isLoopbackHost } = await import('../hub/server.ts');
        if (!isLoopbackHost(opts.host)) warn(`listening on ${opts.host}, not loopback: anyone who can reach it can read public repos`);
        if (opts.json) process.stdout.write(JSON.stringify(server) + '\n');
        const tokens = server.token_file ? 0 : server.configured_tokens;
        const auth = server.token_file
          ? [
              `Writes and private reads need the token in ${server.token_file} (write role, readable only by you):`,
              `  Python:  HF_ENDPOINT=${server.url} HF_TOKEN=$(cat ${server.token_file})`,
              `  JS:      hubUrl: "${server.url}", accessToken: <the token in ${server.token_file}>`,
              `  push:    HF_TOKEN=$(cat ${server.token_file}) nusomi-hf push <dataset> --repo org/name --hub-url ${server.url}`,
            ]
          : [
              `Writes and private reads need one of the ${tokens} configured token${tokens === 1 ? '' : 's'} (read role: private reads only):`,
              `  Python:  HF_ENDPOINT=${server.url} HF_TOKEN=hf_...`,
              `  JS:      hubUrl: "${server.url}", accessToken: "hf_..."`,
            ];
        if (!opts.json)
          say(
            `Hub server listening on ${server.url} (storage: ${opts.dir})\n` +
              `Public repos need no token:  HF_ENDPOINT=${server.url} python -c 'from datasets import load_dataset; print(load_dataset("org/name"))'\n` +
              auth.join('\n') +
              '\n' +
              'Press Ctrl+C to stop.\n',
          );
        await stopped;
      },
    );
}
