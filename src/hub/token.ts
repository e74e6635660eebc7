/**
 * The Hub token: where it comes from (same places as Python `huggingface_hub`) and how it is kept
 * out of every output. The token lives in a `HubToken` whose printable forms (toString, JSON,
 * util.inspect) are redacted, so it cannot end up in a log, an error or a file by accident; the
 * raw value is only taken out with `reveal()` to hand to the HTTP client.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';

const REDACTED = 'hf_***';

/** `accessToken`: given by a program through the library's `accessToken` parameter. */
export type TokenSource = 'HF_TOKEN' | 'token file' | 'accessToken';

export class HubToken {
  readonly #value: string;
  /** Where it was found, for messages: `HF_TOKEN`, `token file` or `accessToken` (never the value). */
  readonly source: TokenSource;
  /** The token file used, when source is `token file`. */
  readonly file: string | undefined;

  constructor(value: string, source: TokenSource, file?: string) {
    this.#value = value;
    this.source = source;
    this.file = file;
  }

  /** The raw token, for the Authorization header only. */
  reveal(): string {
    return this.#value;
  }

  /** Where the token came from, e.g. `HF_TOKEN` or `the token file ~/.cache/huggingface/token`. */
  describeSource(): string {
    if (this.source === 'token file') return `the token file ${this.file}`;
    return this.source === 'HF_TOKEN' ? 'HF_TOKEN' : 'the accessToken parameter';
  }

  /** Replace the token (and any `Bearer ...` credential) in text that is about to be shown. */
  scrub(text: string): string {
    return scrubSecret(text, this.#value);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `HubToken(${REDACTED}, from ${this.source})`;
  }
}

/** Default token file of huggingface_hub: `$HF_TOKEN_PATH`, else `$HF_HOME/token`, else `~/.cache/huggingface/token`. */
export function tokenFilePath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_TOKEN_PATH) return env.HF_TOKEN_PATH;
  const hfHome = env.HF_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'huggingface');
  return path.join(hfHome, 'token');
}

/** Token from `HF_TOKEN`, else from the token file; null when neither has one. */
export function resolveHubToken(env: NodeJS.ProcessEnv = process.env): HubToken | null {
  const fromEnv = env.HF_TOKEN?.trim();
  if (fromEnv) return new HubToken(fromEnv, 'HF_TOKEN');
  const file = tokenFilePath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const value = text.trim();
  return value ? new HubToken(value, 'token file', file) : null;
}

/**
 * Remove a secret from text: the exact value, its URL-encoded form, any `Bearer <credential>`,
 * and the query of every URL (signed upload URLs carry their signature there).
 * Used on every message that leaves push (errors, logs).
 */
export function scrubSecret(text: string, secret: string | undefined): string {
  let out = text;
  if (secret && secret.length >= 4) {
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join(REDACTED);
    }
  }
  return redactUrlQueries(out.replace(/Bearer\s+[^\s"',;]+/gi, `Bearer ${REDACTED}`));
}

/** `https://host/path?sig=abc` → `https://host/path?<redacted>`: a query may hold a signature or a token. */
export function redactUrlQueries(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s?#"'<>]*)\?[^\s"'<>]*/gi, '$1?<redacted>');
}
