/**
 * JSONL copies: each line a steps row; `image` is a frame path relative to the JSONL file.
 */
import { readLines } from '../export/lines.ts';
import type { FileToCheck, ValidateContext } from './context.ts';
import { RowWindow, stepsRowToV } from './context.ts';
import type { FrameInfo } from './frame-pool.ts';
import { jsonSyntaxReason } from '../limits.ts';
import { jsonDepthExceeds } from './json-depth.ts';

/**
 * Checks one JSONL file; returns its rows (non-empty lines, readable or not), or null when the file
 * cannot be read to its end (a broken gzip stream, a read error).
 */
export async function checkJsonl(
  ctx: ValidateContext,
  file: FileToCheck,
  labelNames: { action_type: string[]; outcome: string[] } | null,
): Promise<number | null> {
  const f = ctx.findings;
  const dir = file.path.includes('/') ? file.path.slice(0, file.path.lastIndexOf('/') + 1) : '';
  const win = new RowWindow(ctx, 'jsonl', file.split);
  let rows = 0;
  // An over-long line (--max-line-bytes) stops the read, naming the file and line.
  const lines = readLines(ctx.source.stream(file.path), file.path.endsWith('.gz'), {
    file: file.path,
    maxLineBytes: ctx.limits?.maxLineBytes,
  })[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<[number, string]>;
    try {
      next = await lines.next();
    } catch (err) {
      f.add('rows.unreadable', { file: file.path, message: `the file cannot be read past row ${rows} (${(err as Error).message})` });
      await win.drain();
      return null;
    }
    if (next.done) break;
    const [line, text] = next.value;
    if (text.trim() === '') continue;
    rows++;
    const at = { file: file.path, row: line - 1 };
    if (jsonDepthExceeds(text, 64)) {
      f.add('rows.unreadable', { ...at, message: `line ${line}: JSON nested deeper than 64 levels` });
      await win.push(null, null);
      continue;
    }
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      f.add('rows.unreadable', { ...at, message: `line ${line}: not JSON (${jsonSyntaxReason(err)})` });
      await win.push(null, null);
      continue;
    }
    const v = stepsRowToV(obj, { format: 'jsonl', split: file.split, loc: at });
    // JSONL carries label names, not ids: map them to ids for the range check.
    const action = obj.action as { type?: unknown } | null;
    const prior = obj.prior_action as { type?: unknown } | null;
    if (labelNames) {
      const id = (names: string[], n: unknown) => (typeof n === 'string' ? names.indexOf(n) : null);
      v.labels = {
        'action.type': id(labelNames.action_type, action?.type),
        'prior_action.type': id(labelNames.action_type, prior?.type),
        outcome: id(labelNames.outcome, obj.outcome),
      };
    }
    let frame: Promise<FrameInfo> | null = null;
    if (typeof obj.image === 'string') {
      const p = dir + obj.image;
      frame = (async (): Promise<FrameInfo> => {
        if (!(await ctx.source.exists(p))) {
          f.add('frame.missing', { ...at, message: `session ${v.session_id} t_ms ${v.t_ms}: frame ${obj.image as string} does not exist` });
          return null as unknown as FrameInfo;
        }
        const bytes = await ctx.source.read(p);
        return ctx.pool.check(bytes, { file: p, start: 0, end: bytes.length });
      })();
    }
    await win.push(v, frame);
  }
  await win.drain();
  return rows;
}
