/**
 * WebDataset sample keys. Readers split a member name at the first dot of its basename (key | ext),
 * `datasets` skips basenames that start with `.` or `__`, and webdataset skips `__x__` names, so a
 * key must be plain: `[A-Za-z0-9_-]`, no leading `_`/`-`. The original session id stays in the JSON.
 */
import { createHash } from 'node:crypto';
import { InputError } from '../errors.ts';

/** Longest session part kept verbatim; keeps `{key}.{ext}` well under the 100-byte ustar name. */
const MAX_SAFE_ID = 64;
/** Characters of the sanitized id kept before the hash when an id has to be rewritten. */
const MAX_REWRITTEN_PREFIX = 40;
const HASH_HEX = 12;

/**
 * An id is kept as it is only if it is already safe AND contains no `--`. Every rewritten id ends
 * in `--{hash}`, so a rewritten id can never equal a verbatim one, and two rewritten ids differ
 * unless sha256 prefixes (48 bits) collide — which the writer's duplicate-key check would catch.
 */
const VERBATIM = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** The session id as a key-safe string: verbatim when possible, else sanitized + `--` + hash. */
export function safeSessionId(sessionId: string): string {
  if (sessionId.length <= MAX_SAFE_ID && VERBATIM.test(sessionId) && !sessionId.includes('--')) {
    return sessionId;
  }
  const hash = createHash('sha256').update(sessionId, 'utf8').digest('hex').slice(0, HASH_HEX);
  const sanitized = sessionId
    .replace(/[^A-Za-z0-9_-]/gu, '_')
    .replace(/-{2,}/g, '-')
    .slice(0, MAX_REWRITTEN_PREFIX)
    .replace(/^[_-]+|[_-]+$/g, '');
  return `${sanitized || 's'}--${hash}`;
}

/**
 * `{session}__{step:06d}`. Injective over (sessionId, step): the step is the trailing run of digits
 * after the last `__`, and `safeSessionId` is injective (see above).
 */
export function sampleKey(sessionId: string, step: number): string {
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new InputError(`step must be a non-negative integer, got ${String(step)}`, { row: `session ${sessionId}` });
  }
  return `${safeSessionId(sessionId)}__${String(step).padStart(6, '0')}`;
}

/** The part of a key before its last `__` (the session); the whole key if there is none. */
export function keyGroup(key: string): string {
  const i = key.lastIndexOf('__');
  return i > 0 ? key.slice(0, i) : key;
}

/** Why a key cannot be used as a WebDataset key, or null when it can. */
export function keyProblem(key: string): string | null {
  if (key.length === 0) return 'empty key';
  if (!/^[A-Za-z0-9_-]+$/.test(key)) return 'only A-Z a-z 0-9 _ - are allowed (a dot would split the key)';
  if (key.startsWith('_') || key.startsWith('-')) return 'a key must not start with _ or - (readers skip __ names)';
  return null;
}
