/**
 * Who the local Hub server lets in. Tokens are listed with a role, as on the real Hub: `read` may
 * read private repos, `write` may also create, commit, tag, branch and delete. Public repos are
 * readable without a token. The table comes from `--token`, a tokens file, or (when neither is
 * given) a token the server makes once and keeps in `{dir}/token`, readable only by its owner.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.ts';

export type TokenRole = 'read' | 'write';

export interface ServerToken {
  token: string;
  role: TokenRole;
}

/** Largest tokens file read (a list of tokens, not data). */
export const MAX_TOKENS_FILE_BYTES = 1024 * 1024;

const TOKEN_RE = /^hf_[A-Za-z0-9_-]{8,200}$/;

export function isServerToken(token: string): boolean {
  return TOKEN_RE.test(token);
}

export function checkServerToken(token: string, where: string): string {
  if (!isServerToken(token)) throw new UsageError(`${where}: a token is "hf_" followed by 8 to 200 letters, digits, "_" or "-"`);
  return token;
}

/** A new write token: `hf_` and 32 random base64url characters. */
export function newServerToken(): string {
  return `hf_${randomBytes(24).toString('base64url')}`;
}

/**
 * A tokens file: one `hf_... read|write` per line (the role defaults to read); blank lines and
 * `#` comments are skipped. It must be readable by its owner only (0600). Errors name the line,
 * never the token.
 */
export function readTokensFile(file: string): ServerToken[] {
  let text: string;
  try {
    // Like ssh with a private key: a tokens file others can read is refused, not used.
    const mode = statSync(file).mode;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new UsageError(
        `--tokens-file ${file}: other users can read or change it (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run "chmod 600 ${file}"`,
      );
    }
    const bytes = readFileSync(file);
    if (bytes.length > MAX_TOKENS_FILE_BYTES) throw new UsageError(`--tokens-file ${file}: larger than ${MAX_TOKENS_FILE_BYTES} bytes`);
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--tokens-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const out: ServerToken[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const [token, role = 'read', ...extra] = line.split(/\s+/);
    const where = `--tokens-file ${file} line ${i + 1}`;
    if (extra.length || (role !== 'read' && role !== 'write')) throw new UsageError(`${where}: expected "hf_... read" or "hf_... write"`);
    out.push({ token: checkServerToken(token!, where), role });
  });
  if (out.length === 0) throw new UsageError(`--tokens-file ${file}: no tokens in it (one "hf_... read|write" per line)`);
  return out;
}

/** The listed tokens; lookups compare in constant time so response timing says nothing about a token. */
export class TokenTable {
  readonly #tokens: Array<{ bytes: Uint8Array; role: TokenRole }>;

  constructor(tokens: readonly ServerToken[]) {
    this.#tokens = tokens.map((t) => ({ bytes: new TextEncoder().encode(t.token), role: t.role }));
  }

  /** The role of a listed token; undefined for anything else. */
  roleOf(token: string): TokenRole | undefined {
    const got = new TextEncoder().encode(token);
    let role: TokenRole | undefined;
    for (const t of this.#tokens) {
      if (t.bytes.length === got.length && timingSafeEqual(t.bytes, got)) role = role === 'write' ? role : t.role;
    }
    return role;
  }
}
