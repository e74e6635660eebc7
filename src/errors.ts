/**
 * Errors that a user can act on. The CLI prints `message` alone (no stack trace), so the message
 * must say where (file, row or tar member) and what was expected.
 */
export interface Where {
  /** The file as the user knows it: a path relative to the export root, or a full URL. */
  file?: string;
  /** Row location: `line 12`, `row 40`, or `session ses_01 t_ms 1200`. */
  row?: string;
  /** Tar member name. */
  member?: string;
}

export class NusomiError extends Error {
  readonly where: Where;
  /** Process exit code the CLI uses for this error: 1 data problem, 2 usage problem. */
  readonly exitCode: number;
  constructor(what: string, where: Where = {}, exitCode = 1) {
    super(formatWhere(where) + what);
    this.name = 'NusomiError';
    this.where = where;
    this.exitCode = exitCode;
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

function formatWhere(w: Where): string {
  const parts = [w.file, w.member && `member ${w.member}`, w.row].filter(Boolean);
  return parts.length ? parts.join(': ') + ': ' : '';
}
