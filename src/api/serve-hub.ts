import { UsageError } from '../errors.ts';
import type { HubServer } from '../hub/server.ts';
import type { ServerToken, TokenRole } from '../hub/server-auth.ts';

export type { ServerToken, TokenRole };

export interface ServeHubParams {
  /** Storage directory (created when missing); repos survive restarts. */
  dir: string;
  /** Port to listen on. Default 0: a free one (read it from the result). */
  port?: number;
  /** Address to listen on. Default `127.0.0.1`; any other than loopback only with `tokens` or `tokensFile`. */
  host?: string;
  /**
   * Tokens the server accepts (`hf_` and 8 to 200 letters, digits, `_` or `-`), each with the
   * `write` or `read` role (read: private reads only). Without `tokens` and `tokensFile` the server
   * makes one write token, once, and keeps it in `<dir>/token` (mode 0600).
   */
  tokens?: ServerToken[];
  /** A file of tokens and roles, one `hf_... read|write` per line, readable only by its owner. */
  tokensFile?: string;
  /** Called with one line per request: method, path (never the query) and status. */
  log?: (line: string) => void;
}

/**
 * A running local Hub. Its own properties are plain data (what `nusomi-hf hub serve --json`
 * prints); the token and `stop` live on the prototype, so `JSON.stringify` of it never shows the token.
 */
export class ServedHub {
  /** Base URL: give it to clients as `hubUrl` (JS) or `HF_ENDPOINT` (Python). */
  readonly url: string;
  readonly port: number;
  /** The storage directory, as given. */
  readonly dir: string;
  /** Where the server's own token is kept, when it made one (no tokens were given); else null. */
  readonly token_file: string | null;
  /** How many tokens were given (`tokens` and `tokensFile`); 0 when the server made its own. */
  readonly configured_tokens: number;
  readonly #server: HubServer;

  constructor(server: HubServer, dir: string, configured_tokens: number) {
    this.url = server.url;
    this.port = server.port;
    this.dir = dir;
    this.token_file = server.tokenFile ?? null;
    this.configured_tokens = configured_tokens;
    this.#server = server;
  }

  /** The write token the server made (kept in `token_file`); undefined when tokens were given. */
  get token(): string | undefined {
    return this.#server.token;
  }

  /** Stop listening and close open connections. */
  stop(): Promise<void> {
    return this.#server.stop();
  }
}

/**
 * Serve a local Hugging Face Hub that `@huggingface/hub`, `huggingface_hub` and `datasets` accept,
 * for offline tests, CI and dry runs. Resolves once it listens.
 */
export async function serveHub(params: ServeHubParams): Promise<ServedHub> {
  const port = params.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(String(params.port))}`);
  // Loaded on first call: a program (or the CLI) that never serves skips the server.
  const [{ checkServerToken, readTokensFile }, { startHubServer }] = await Promise.all([
    import('../hub/server-auth.ts'),
    import('../hub/server.ts'),
  ]);
  const tokens = [
    ...(params.tokens ?? []).map((t, i) => {
      if (t.role !== 'read' && t.role !== 'write') throw new UsageError(`token #${i + 1}: role must be "read" or "write"`);
      return { token: checkServerToken(t.token, `--token #${i + 1}`), role: t.role };
    }),
    ...(params.tokensFile ? readTokensFile(params.tokensFile) : []),
  ];
  const server = await startHubServer({
    dir: params.dir,
    port,
    host: params.host ?? '127.0.0.1',
    ...(tokens.length ? { tokens } : {}),
    log: params.log,
  });
  return new ServedHub(server, params.dir, tokens.length);
}
