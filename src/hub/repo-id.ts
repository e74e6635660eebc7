/**
 * Hub repo ids (`namespace/name`), checked the way huggingface_hub's `validate_repo_id` and the Hub
 * check them: each part 1 to 96 ASCII letters, digits, `-`, `_`, `.`, starting and ending with a
 * letter or digit, with no `--` or `..`, and no `.git` suffix. The local Hub server runs every
 * namespace and name segment through this before it touches storage, and push runs `--repo`
 * through it before any request carries the token.
 */

/** Longest namespace or repo name the Hub accepts. */
export const MAX_REPO_NAME_LENGTH = 96;

const PART_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** Why `part` is not a valid namespace or repo name, or undefined when it is. */
export function repoNamePartProblem(part: string): string | undefined {
  if (part === '') return 'it is empty';
  if (part.length > MAX_REPO_NAME_LENGTH) return `it is longer than ${MAX_REPO_NAME_LENGTH} characters`;
  if (part.includes('..') || part.includes('--')) return 'it contains ".." or "--"';
  if (!PART_RE.test(part)) return 'only ASCII letters, digits, "-", "_" and "." are allowed, and it must start and end with a letter or digit';
  if (part.endsWith('.git')) return 'it ends with ".git"';
  return undefined;
}

/** Why `id` is not a valid `namespace/name` repo id, or undefined when it is. */
export function repoIdProblem(id: string): string | undefined {
  const parts = id.split('/');
  if (parts.length !== 2) return 'expected "namespace/name" with exactly one "/"';
  for (const [what, part] of [['namespace', parts[0]!], ['name', parts[1]!]] as const) {
    const p = repoNamePartProblem(part);
    if (p) return `the ${what} ${JSON.stringify(part)} is not valid: ${p}`;
  }
  return undefined;
}
