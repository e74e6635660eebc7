/**
 * WebDataset export shards: `*.tar` with adjacent `{key}.webp|png|jpg` and `{key}.json` members per
 * sample, and an optional `{shard}.jsonl` sidecar beside the tar (`{"__key__": key, ...row}`) that
 * supplies the row when a sample has no `.json` member. Members must be regular files with safe
 * names; links and unsafe names are errors naming the member. One sample is in memory at a time,
 * and a member larger than `maxMemberBytes` is refused from its header, before any of it is read.
 */
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { InputError } from '../errors.ts';
import { overLimit, parseJsonText } from '../limits.ts';
import { readLines } from './lines.ts';
import type { DataFile, RawItem } from './raw.ts';

const IMAGE_EXTS = new Set(['webp', 'png', 'jpg', 'jpeg']);

/** WebDataset convention: key = path up to the first dot of the basename, ext = the rest. */
export function splitMemberName(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  return dot < 0 ? { key: name, ext: '' } : { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

/** Why a member name is unsafe to use, or undefined when it is fine. */
export function unsafeMemberName(name: string): string | undefined {
  if (name === '') return 'empty member name';
  if (name.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(name)) return 'absolute member name';
  if (name.includes('\\')) return 'member name with a backslash';
  if (name.split('/').includes('..')) return 'member name climbs out of the archive with ".."';
  if (name.includes('\0')) return 'member name with a NUL byte';
  return undefined;
}

/** The sidecar, read lazily and in step with the tar; out-of-order lines wait in a small map. */
class Sidecar {
  private lines?: AsyncIterator<[number, string]>;
  private waiting = new Map<string, { line: number; row: Record<string, unknown>; bytes: number }>();
  /** Text bytes of the lines waiting, bounded by maxMemberBytes: a sidecar in another order than its tar must not fill memory. */
  private waitingBytes = 0;
  private present?: boolean;
  constructor(private readonly file: DataFile) {}

  async get(key: string): Promise<{ line: number; row: Record<string, unknown> } | undefined> {
    if (this.present === undefined) {
      this.present = await this.file.source.exists(this.file.path);
      if (this.present) {
        const opts = { maxLineBytes: this.file.limits.maxLineBytes, file: this.file.name };
        this.lines = readLines(this.file.source.stream(this.file.path), false, opts)[Symbol.asyncIterator]();
      }
    }
    const hit = this.waiting.get(key);
    if (hit) {
      this.waiting.delete(key);
      this.waitingBytes -= hit.bytes;
      return hit;
    }
    while (this.lines) {
      const next = await this.lines.next();
      if (next.done) {
        this.lines = undefined;
        break;
      }
      const [line, text] = next.value;
      if (text.trim() === '') continue;
      const v = parseJsonText(text, this.file.limits.maxJsonDepth, { file: this.file.name, row: `line ${line}` }, 'a JSON object');
      if (v === null || typeof v !== 'object' || Array.isArray(v) || typeof (v as Record<string, unknown>).__key__ !== 'string') {
        throw new InputError('expected a JSON object with a string "__key__"', { file: this.file.name, row: `line ${line}` });
      }
      const { __key__: k, ...row } = v as Record<string, unknown>;
      if (k === key) return { line, row };
      this.waitingBytes += text.length;
      const max = this.file.limits.maxMemberBytes;
      if (this.waitingBytes > max) {
        throw new InputError(
          `lines waiting for their tar sample hold more than ${max} bytes, ${overLimit('maxMemberBytes', max)}; a sidecar's lines follow its tar's sample order`,
          { file: this.file.name, row: `line ${line}` },
        );
      }
      this.waiting.set(k as string, { line, row, bytes: text.length });
    }
    return undefined;
  }
}

interface Member {
  name: string;
  ext: string;
  bytes: Uint8Array;
}

export function sidecarPath(tarPath: string): string {
  return tarPath.replace(/\.tar$/i, '') + '.jsonl';
}

export async function* readWebDataset(file: DataFile): AsyncIterable<RawItem> {
  const sidecar = new Sidecar({ source: file.source, path: sidecarPath(file.path), name: sidecarPath(file.name), limits: file.limits });
  const extract = tar.extract();
  const input = Readable.from(file.source.stream(file.path));
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract as unknown as NodeJS.WritableStream);

  let key: string | undefined;
  let members: Member[] = [];
  const where = (member: string) => ({ file: file.name, member });

  const assemble = async (k: string, ms: Member[]): Promise<RawItem> => {
    const json = ms.find((m) => m.ext === 'json');
    const image = ms.find((m) => IMAGE_EXTS.has(m.ext));
    let fields: Record<string, unknown>;
    const origin = { file: file.name, member: k };
    if (json) {
      let v: unknown;
      try {
        let text: string;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(json.bytes);
        } catch {
          throw new InputError('not a JSON object (not UTF-8 text)', where(json.name));
        }
        v = parseJsonText(text, file.limits.maxJsonDepth, where(json.name), 'a JSON object');
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        return { kind: 'problem', error: err };
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        return { kind: 'problem', error: new InputError('expected a JSON object', where(json.name)) };
      }
      fields = v as Record<string, unknown>;
    } else {
      const side = await sidecar.get(k);
      if (!side) {
        return { kind: 'problem', error: new InputError(`sample has no .json member and no line in ${sidecarPath(file.name)}`, where(k)) };
      }
      fields = side.row;
    }
    return {
      kind: 'row',
      fields,
      origin,
      columnar: false,
      ...(image
        ? { image: { bytes: image.bytes, ext: image.ext === 'jpeg' ? 'jpg' : image.ext, ref: `embedded:${file.name}#${image.name}` } }
        : {}),
    };
  };

  const maxMember = file.limits.maxMemberBytes;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      const size = h.size ?? 0;
      // From the header, before reading: a member claiming gigabytes is never buffered.
      if (size > maxMember) throw new InputError(`member is ${size} bytes, ${overLimit('maxMemberBytes', maxMember)}`, where(h.name));
      // One buffer of the declared size, filled in place (collecting chunks and joining them took twice the member).
      const body = new Uint8Array(size);
      let filled = 0;
      for await (const c of entry) {
        const chunk = c as Uint8Array;
        if (filled + chunk.length > size)
          throw new InputError(`member holds more than the ${size} bytes its header declares`, where(h.name));
        body.set(chunk, filled);
        filled += chunk.length;
      }
      if (h.type === 'directory') continue;
      const unsafe = unsafeMemberName(h.name);
      if (unsafe) {
        yield { kind: 'problem', error: new InputError(`${unsafe}; members must be relative paths inside the archive`, where(h.name)) };
        continue;
      }
      if (h.type === 'symlink' || h.type === 'link') {
        const kind = h.type === 'symlink' ? 'a symbolic link' : 'a hard link';
        yield {
          kind: 'problem',
          error: new InputError(`member is ${kind} (to ${h.linkname}); only regular files are allowed`, where(h.name)),
        };
        continue;
      }
      if (h.type !== 'file' && h.type !== 'contiguous-file') {
        yield { kind: 'problem', error: new InputError(`member is a ${h.type}; only regular files are allowed`, where(h.name)) };
        continue;
      }
      const { key: k, ext } = splitMemberName(h.name);
      if (key !== undefined && k !== key) {
        yield await assemble(key, members);
        members = [];
      }
      key = k;
      members.push({ name: h.name, ext, bytes: filled === size ? body : body.subarray(0, filled) });
    }
  } catch (err) {
    if (err instanceof InputError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    const after = key !== undefined ? ` after member ${members[members.length - 1]?.name ?? key}` : '';
    throw new InputError(`not a readable tar archive${after} (${msg}); the file may be truncated`, { file: file.name });
  } finally {
    // Stopped early (an error, or the reader gave up): stop reading the file too.
    input.destroy();
    extract.destroy();
  }
  if (key !== undefined) yield await assemble(key, members);
}

/**
 * Samples in a tar as its sidecar lists them (one non-blank line each); undefined without a
 * sidecar. Read only to count what a broken tar lost.
 */
export async function sidecarRowCount(file: DataFile): Promise<number | undefined> {
  const path = sidecarPath(file.path);
  if (!(await file.source.exists(path))) return undefined;
  let n = 0;
  for await (const [, text] of readLines(file.source.stream(path))) if (text.trim() !== '') n++;
  return n;
}
