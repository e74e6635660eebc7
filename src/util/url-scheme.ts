/**
 * The scheme of a URL-like string (`s3://…`, `az://…`, `https://…`, `file:…`), lower-cased, or
 * undefined for a plain path. RFC 3986 §3.1: a letter, then letters, digits, `+`, `-` or `.`; we
 * ask for at least two characters so a Windows drive letter (`C:\…`) stays a path.
 */
const URL_SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]+):/;

export function urlScheme(s: string): string | undefined {
  const m = URL_SCHEME.exec(s);
  return m ? m[1]!.toLowerCase() : undefined;
}

/** True when `s` starts with a URL scheme (see urlScheme). */
export function hasUrlScheme(s: string): boolean {
  return URL_SCHEME.test(s);
}
