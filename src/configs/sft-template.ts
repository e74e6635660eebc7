/**
 * `--prompt-template FILE`: the user turn's text with named fields, `{workflow}`, `{history}`,
 * `{context.ticket_id}`; `{{` and `}}` are literal braces. The file is untrusted text: bounded in
 * size and fields, read as UTF-8, and only ever substituted into (nothing in it runs). A field
 * name that is neither a known field nor `context.<name>` is a usage error naming it.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { InputError, UsageError } from '../errors.ts';

/** Largest template file read. */
export const TEMPLATE_MAX_BYTES = 16 * 1024;
/** Most `{field}`s a template may hold. */
export const TEMPLATE_MAX_FIELDS = 256;

/**
 * Fields every row has: `workflow`, `step` (0-based in its session), `viewport` (`WxH` of the
 * capture), `history` (the previous actions, one per line, oldest first; `(none)`), `task` (the
 * context's task text, see TASK_KEYS), and the context columns `outcome`, `actor_kind`, `tags`
 * (comma separated), `path`, `started_at` (ISO). Any other context field is `{context.<name>}`
 * (empty when a row lacks it; strings as they are, other values as JSON).
 */
export const TEMPLATE_FIELDS = [
  'workflow',
  'step',
  'viewport',
  'history',
  'task',
  'outcome',
  'actor_kind',
  'tags',
  'path',
  'started_at',
] as const;
export type TemplateField = (typeof TEMPLATE_FIELDS)[number] | `context.${string}`;

const CONTEXT_FIELD = /^context\.[A-Za-z0-9_-]{1,64}$/;

/** A parsed template: literal text and fields, in order. */
export type TemplatePart = string | { field: TemplateField };

export interface PromptTemplate {
  /** The file's base name (no directories: outputs never carry local paths). */
  name: string;
  text: string;
  parts: TemplatePart[];
}

/** What a message may show of a name the user wrote: printable, bounded. */
function shown(name: string): string {
  const clean = name.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 64 ? clean.slice(0, 61) + '...' : clean;
}

export function parseTemplate(text: string, name: string): TemplatePart[] {
  const flag = `--prompt-template ${name}`;
  const parts: TemplatePart[] = [];
  let literal = '';
  let fields = 0;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (c === '{' && text[i + 1] === '{') {
      literal += '{';
      i++;
    } else if (c === '}' && text[i + 1] === '}') {
      literal += '}';
      i++;
    } else if (c === '}') {
      throw new UsageError(`${flag}: line ${line}: a "}" without its "{" (write "}}" for a literal brace)`);
    } else if (c === '{') {
      const end = text.indexOf('}', i + 1);
      const nl = text.indexOf('\n', i + 1);
      if (end === -1 || (nl !== -1 && nl < end)) {
        throw new UsageError(`${flag}: line ${line}: a "{" without its "}" on the same line (write "{{" for a literal brace)`);
      }
      const field = text.slice(i + 1, end).trim();
      if (!(TEMPLATE_FIELDS as readonly string[]).includes(field) && !CONTEXT_FIELD.test(field)) {
        throw new UsageError(
          `${flag}: line ${line}: unknown field "{${shown(field)}}"; known fields: ${TEMPLATE_FIELDS.join(', ')}, or context.<name> for any context field`,
        );
      }
      if (++fields > TEMPLATE_MAX_FIELDS) throw new UsageError(`${flag}: more than ${TEMPLATE_MAX_FIELDS} fields`);
      if (literal) parts.push(literal);
      literal = '';
      parts.push({ field: field as TemplateField });
      i = end;
    } else literal += c;
  }
  if (literal) parts.push(literal);
  return parts;
}

/** Reads and parses a template file (size checked before reading; UTF-8 text only). */
export async function loadTemplate(file: string): Promise<PromptTemplate> {
  const name = path.basename(file);
  const flag = `--prompt-template ${name}`;
  let size: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new InputError(`${flag}: not a regular file`);
    size = st.size;
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${flag}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (size > TEMPLATE_MAX_BYTES) throw new UsageError(`${flag}: ${size} bytes; a template holds at most ${TEMPLATE_MAX_BYTES}`);
  const bytes = await readFile(file);
  if (bytes.length > TEMPLATE_MAX_BYTES) throw new UsageError(`${flag}: a template holds at most ${TEMPLATE_MAX_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(`${flag}: not UTF-8 text`);
  }
  // Control characters other than tab and line ends have no place in a prompt (a binary file, most likely).
  const bad = firstControl(text);
  if (bad !== -1) throw new UsageError(`${flag}: line ${text.slice(0, bad).split('\n').length}: a control character; expected text`);
  text = text.replace(/\r\n/g, '\n');
  return { name, text, parts: parseTemplate(text, name) };
}

/** Index of the first control character other than tab, LF and CR, or -1. */
function firstControl(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return i;
  }
  return -1;
}

export function renderTemplate(parts: readonly TemplatePart[], value: (field: TemplateField) => string): string {
  let out = '';
  for (const p of parts) out += typeof p === 'string' ? p : value(p.field);
  return out;
}
