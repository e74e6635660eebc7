/** jsonl / jsonl.gz export files: one JSON row object per line; blank lines are ignored. */
import { InputError } from '../errors.ts';
import { readLines } from './lines.ts';
import type { DataFile, RawItem } from './raw.ts';

export async function* readJsonl(file: DataFile): AsyncIterable<RawItem> {
  const gzip = /\.gz$/i.test(file.path);
  const lines: AsyncIterable<[number, string]> = readLines(file.source.stream(file.path), gzip);
  try {
    for await (const [line, text] of lines) {
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        yield { kind: 'problem', error: new InputError(`not a JSON object (${(err as Error).message})`, { file: file.name, row: `line ${line}` }) };
        continue;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        yield { kind: 'problem', error: new InputError(`expected a JSON object per line, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}`, { file: file.name, row: `line ${line}` }) };
        continue;
      }
      yield { kind: 'row', fields: value as Record<string, unknown>, origin: { file: file.name, line }, columnar: false };
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
