/**
 * Errors that a user can act on. The CLI prints `message` alone (no stack trace), so the message
 * must say where (file, row or tar member) and what was expected.
 *
 * These classes are public (exported from the package entry point): a program tells them apart
 * with `instanceof` and reads `file`, `row`, `member` and `hint` instead of parsing the message.
 */
export interface Where {
  /** The file as the user knows it: a path relative to the export root, or a full URL. */
  file?: string;
  /** Row location: `line 12`, `row 40`, or `session ses_01 t_ms 1200`. */
  row?: string;
  /** Tar member name. */
  member?: string;
  /** What to do about it (raise a limit, fix a flag, log in again); appended to the message. */
  hint?: string;
}

/** The base class of every error below; catch it to catch them all. */
export class NusomiError extends Error {
  readonly where: Where;
  /** Process exit code the CLI uses for this error: 1 data problem, 2 usage problem. */
  readonly exitCode: number;
  constructor(what: string, where: Where = {}, exitCode = 1) {
    super(formatWhere(where) + what + (where.hint ? `; ${where.hint}` : ''));
    this.name = 'NusomiError';
    this.where = where;
    this.exitCode = exitCode;
  }
  /** The file as the user knows it (a path relative to the export or dataset root, or a URL). */
  get file(): string | undefined {
    return this.where.file;
  }
  /** The position in `file`: `line 12`, `row 40`, or `session ses_01 t_ms 1200`. */
  get row(): string | undefined {
    return this.where.row;
  }
  /** The tar member, for WebDataset files. */
  get member(): string | undefined {
    return this.where.member;
  }
  /** What to do about it, when there is more to say than the message. */
  get hint(): string | undefined {
    return this.where.hint;
  }
}

/** Bad input data: a file, row or member that does not match the contract. */
export class InputError extends NusomiError {
  constructor(what: string, where: Where = {}) {
    super(what, where, 1);
    this.name = 'InputError';
  }
}

/** The user asked for something that cannot be done as asked (bad flag, missing field for a filter). */
export class UsageError extends NusomiError {
  constructor(what: string, where: Where = {}) {
    super(what, where, 2);
    this.name = 'UsageError';
  }
}

/**
 * Data that does not match what travels with it: a manifest's counts, a checksum, a file list.
 * The input is readable, but not what it claims to be.
 */
export class IntegrityError extends InputError {
  constructor(what: string, where: Where = {}) {
    super(what, where);
    this.name = 'IntegrityError';
  }
}

/** A remote service (the Hub, S3, Azure, an https server) refused or failed a request. */
export class RemoteError extends NusomiError {
  constructor(what: string, where: Where = {}) {
    super(what, where, 1);
    this.name = 'RemoteError';
  }
}

function formatWhere(w: Where): string {
  const parts = [w.file, w.member && `member ${w.member}`, w.row].filter(Boolean);
  return parts.length ? parts.join(': ') + ': ' : '';
}
