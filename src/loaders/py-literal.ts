/**
 * JSON values → Python source literals, deterministic and readable: short values on one line,
 * long dicts/lists one item per line. `PyTuple` marks arrays that should be tuples (immutable pins).
 */

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

export type PyValue = null | boolean | number | string | PyTuple | readonly PyValue[] | { readonly [k: string]: PyValue };

const WIDTH = 120;

export function pyLiteral(value: PyValue, indent = 0): string {
  const flat = pyInline(value);
  if (indent + flat.length <= WIDTH || !isContainer(value)) return flat;
  const pad = ' '.repeat(indent + 4);
  const end = ' '.repeat(indent);
  if (value instanceof PyTuple || Array.isArray(value)) {
    const items = value instanceof PyTuple ? value.items : (value as readonly PyValue[]);
    const [open, close] = value instanceof PyTuple ? ['(', ')'] : ['[', ']'];
    return `${open}\n${items.map((v) => `${pad}${pyLiteral(v, indent + 4)},`).join('\n')}\n${end}${close}`;
  }
  const entries = Object.entries(value as Record<string, PyValue>);
  return `{\n${entries.map(([k, v]) => `${pad}${pyString(k)}: ${pyLiteral(v, indent + 4)},`).join('\n')}\n${end}}`;
}

function isContainer(v: PyValue): boolean {
  return v !== null && typeof v === 'object';
}

export function pyInline(value: PyValue): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`cannot pin a non-finite number (${value})`);
    return Number.isInteger(value) ? String(value) : JSON.stringify(value);
  }
  if (typeof value === 'string') return pyString(value);
  if (value instanceof PyTuple) {
    const inner = value.items.map(pyInline);
    return inner.length === 1 ? `(${inner[0]},)` : `(${inner.join(', ')})`;
  }
  if (Array.isArray(value)) return `[${(value as readonly PyValue[]).map(pyInline).join(', ')}]`;
  return `{${Object.entries(value as Record<string, PyValue>)
    .map(([k, v]) => `${pyString(k)}: ${pyInline(v)}`)
    .join(', ')}}`;
}

/** A Python string literal: JSON's escaping is valid Python; non-ASCII is escaped to keep files ASCII. */
export function pyString(s: string): string {
  return JSON.stringify(s).replace(/[\u{7f}-\u{10ffff}]/gu, (c) => {
    const cp = c.codePointAt(0) as number;
    return cp > 0xffff ? `\\U${cp.toString(16).padStart(8, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
}
