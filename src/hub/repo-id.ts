/**
 * Hub repo ids (`namespace/name`) and branch/tag names, checked the way huggingface_hub's
 * `validate_repo_id` and the Hub check them. Repo ids: each part 1 to 96 ASCII letters, digits,
 * `-`, `_`, `.`, starting and ending with a letter or digit, with no `--` or `..`, and no `.git` suffix. The local Hub server runs every
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
  if (!PART_RE.test(part))
    return 'only ASCII letters, digits, "-", "_" and "." are allowed, and it must start and end with a letter or digit';
  if (part.endsWith('.git')) return 'it ends with ".git"';
  return undefined;
}

/** Why `id` is not a valid `namespace/name` repo id, or undefined when it is. */
export function repoIdProblem(id: string): string | undefined {
  const parts = id.split('/');
  if (parts.length !== 2) return 'expected "namespace/name" with exactly one "/"';
  for (const [what, part] of [
    ['namespace', parts[0]!],
    ['name', parts[1]!],
  ] as const) {
    const p = repoNamePartProblem(part);
    if (p) return `the ${what} ${JSON.stringify(part)} is not valid: ${p}`;
  }
  return undefined;
}

/** Longest branch or tag name accepted. */
export const MAX_REF_NAME_LENGTH = 200;

/**
 * Why `name` is not a valid branch or tag name, or undefined when it is: the practical subset of
 * `git check-ref-format` (https://git-scm.com/docs/git-check-ref-format), as the Hub needs them.
 */
export function refNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > MAX_REF_NAME_LENGTH) return `it must be 1 to ${MAX_REF_NAME_LENGTH} characters`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what git refuses in a ref name
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return 'it contains a space, a control character or one of ~ ^ : ? * [ \\';
  if (name.includes('..') || name.includes('@{') || name.includes('//')) return 'it contains "..", "@{" or "//"';
  if (name.startsWith('/') || name.endsWith('/') || name.endsWith('.') || name.endsWith('.lock'))
    return 'it starts or ends with "/", or ends with "." or ".lock"';
  if (name.split('/').some((s) => s.startsWith('.'))) return 'a part of it starts with "."';
  if (name === '@' || name === 'HEAD' || /^[0-9a-f]{40}$/.test(name)) return 'it is "@", "HEAD" or looks like a commit sha';
  return undefined;
}
