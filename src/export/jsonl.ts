/** jsonl / jsonl.gz export files: one JSON row object per line; blank lines are ignored. */
import { InputError } from '../errors.ts';
import { jsonTooDeep, parseJsonOnly, typeName } from '../limits.ts';
import { readLines } from './lines.ts';
import { DEEPER, jsonKindWithin } from './normalize.ts';
import type { DataFile, RawItem } from './raw.ts';

export async function* readJsonl(file: DataFile): AsyncIterable<RawItem> {
  const gzip = /\.gz$/i.test(file.path);
  const lines: AsyncIterable<[number, string]> = readLines(file.source.stream(file.path), gzip, {
    maxLineBytes: file.limits.maxLineBytes,
    file: file.name,
  });
  let skip = file.skipRows ?? 0;
  try {
    for await (const [line, text] of lines) {
      if (text.trim() === '') continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      const where = { file: file.name, row: `line ${line}` };
      let value: unknown;
      try {
        value = parseJsonOnly(text, where, 'a JSON object');
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        yield { kind: 'problem', error: err };
        continue;
      }
      // The depth check (as parseJsonText's) and normalize's walk for null keys, in one walk.
      const jsonKind = jsonKindWithin(value, file.limits.maxJsonDepth);
      if (jsonKind === DEEPER) {
        yield { kind: 'problem', error: jsonTooDeep(file.limits.maxJsonDepth, where) };
        continue;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        yield { kind: 'problem', error: new InputError(`expected a JSON object per line, got ${typeName(value)}`, where) };
        continue;
      }
      yield { kind: 'row', fields: value as Record<string, unknown>, origin: { file: file.name, line }, columnar: false, jsonKind };
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (gzip && typeof code === 'string' && code.startsWith('Z_')) {
      throw new InputError(`not a readable gzip file (${(err as Error).message})`, { file: file.name });
    }
    throw err;
  }
}
