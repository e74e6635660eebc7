/**
 * Aborting a long operation through an `AbortSignal`, with the semantics of Node's own APIs: the
 * operation rejects with an {@link AbortError} whose `cause` is the signal's reason (a program can
 * test `err instanceof AbortError`; https://nodejs.org/api/errors.html#class-aborterror).
 */

/** An operation stopped because its signal was aborted. `cause` is the signal's reason. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/** The error an operation aborted by `signal` rejects with. */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  return new AbortError(undefined, { cause: reason });
}

/** Throw the abort error if `signal` is aborted; a no-op without a signal. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** True for the error of an aborted operation (ours, Node's, fetch's DOMException). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
