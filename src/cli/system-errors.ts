/**
 * Node's system errors (ENOENT, EACCES, EADDRINUSE, ...) turned into one line that names the path
 * or address, at the CLI boundary. Any code can let such an error through; the user sees what
 * failed and where, never a stack trace. Codes not listed here stay internal errors (exit 70).
 */
/** What a failed fs/net call leaves on its error (Node's `SystemError` shape). */
interface SystemError extends Error {
  code: string;
  syscall?: string;
  path?: string;
  dest?: string;
  address?: string;
  port?: number;
}

/** The reason in words for each code a user can act on: a path, a permission, a port, a full disk. */
const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'is a folder, not a file',
  EEXIST: 'already exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files (raise `ulimit -n`)',
  ENFILE: 'too many open files in the system',
  EXDEV: 'cannot move across file systems',
  ENOTEMPTY: 'folder not empty',
  EBUSY: 'busy or locked',
  EADDRINUSE: 'address already in use (another process listens there; pick another --port, or 0 for a free one)',
  EADDRNOTAVAIL: 'address not available on this machine',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the peer',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
};

/** Verbs for the calls that fail most, so the line says what was tried. */
const ACTIONS: Readonly<Record<string, string>> = {
  open: 'cannot open',
  read: 'cannot read',
  write: 'cannot write',
  mkdir: 'cannot create folder',
  rmdir: 'cannot remove folder',
  rm: 'cannot remove',
  unlink: 'cannot remove',
  rename: 'cannot rename',
  scandir: 'cannot list folder',
  opendir: 'cannot list folder',
  stat: 'cannot stat',
  lstat: 'cannot stat',
  listen: 'cannot listen on',
  connect: 'cannot connect to',
  getaddrinfo: 'cannot resolve',
};

function isSystemError(err: unknown): err is SystemError {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code in REASONS;
}

/** One line for a system error a user can act on, or undefined for anything else (an internal error). */
export function describeSystemError(err: unknown): string | undefined {
  if (!isSystemError(err)) return undefined;
  const reason = REASONS[err.code]!;
  const action = (err.syscall && ACTIONS[err.syscall]) ?? (err.syscall ? `${err.syscall} failed for` : 'failed:');
  let what: string | undefined = err.path;
  if (what !== undefined && err.dest !== undefined) what = `${err.path} -> ${err.dest}`;
  if (what === undefined && err.address !== undefined) what = err.port !== undefined ? `${err.address}:${err.port}` : err.address;
  // getaddrinfo errors carry the host name in `hostname`.
  if (what === undefined && typeof (err as { hostname?: unknown }).hostname === 'string')
    what = (err as unknown as { hostname: string }).hostname;
  // A missing path reads best as "<path>: does not exist".
  if (
    what !== undefined &&
    err.code === 'ENOENT' &&
    (err.syscall === 'open' || err.syscall === 'stat' || err.syscall === 'scandir' || err.syscall === 'lstat')
  ) {
    return `${what}: does not exist`;
  }
  if (what !== undefined && err.code === 'ENOENT' && err.syscall === 'mkdir') {
    return `${action} ${what}: its parent does not exist or takes no new folders (ENOENT)`;
  }
  return what !== undefined ? `${action} ${what}: ${reason} (${err.code})` : `${reason} (${err.code})`;
}
