/**
 * Sort orders for output: strings by UTF-16 code unit (what `Array.prototype.sort()` does without a
 * comparator), never `localeCompare`, whose order depends on the machine's locale.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Records by their `path`. */
export function byPath(a: { path: string }, b: { path: string }): number {
  return compareStrings(a.path, b.path);
}

/** `Object.entries` pairs by key. */
export function byKey(a: readonly [string, unknown], b: readonly [string, unknown]): number {
  return compareStrings(a[0], b[0]);
}
