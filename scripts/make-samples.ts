/**
 * Writes the sample exports (what the vendor's capture system would export) deterministically.
 *
 *   npx tsx scripts/make-samples.ts [--out DIR]
 *     samples/{jsonl,parquet,arrow,webdataset}/: one workflow, the same rows in four export formats,
 *     layouts as src/export/README.md describes. Byte-identical on every run.
 *
 *   npx tsx scripts/make-samples.ts --sessions N --steps M [--format jsonl|parquet|webdataset|arrow] --out DIR
 *     a large export for benchmarks, streamed: N sessions of M steps, 1440×900 frames of ~150 KB
 *     (a pool of 64 rendered frames reused round-robin; every step still gets its own frame file or
 *     embedded copy). Arrow is written as IPC stream here (the file format's footer needs all batches).
 *
 *   npx tsx scripts/make-samples.ts --frames-every-ms N [--format F] --out DIR
 *     a small frame-sampled export (the vendor's `frame_sampling: every_n_ms`): besides each action
 *     frame, a frame every N ms between actions, rows whose action is `{"type": "none"}`. Those show
 *     the action's effect, a loading panel after a navigation (a real screen change) and the mouse
 *     pointer drifting a few pixels (near-identical frames).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Field, Float64, Int32, Int64, List, RecordBatch, Schema, Struct, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import tar from 'tar-stream';
import { FIELDS, LINKS, ROWS, controlsFor, renderFrame } from './sample-ui.ts';
import type { Control, FrameOverlay, UiState, Viewport } from './sample-ui.ts';

export const WORKFLOW = 'process_invoice';
export const DESTINATION = 's3://nusomi-exports/process_invoice/v1/';
export const CREATED_AT = '2026-05-07T14:08:11Z';
export const FORMATS = ['jsonl', 'parquet', 'arrow', 'webdataset'] as const;
export type ExportFormat = (typeof FORMATS)[number];

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARD_SIZE_BYTES = 268_435_456;
/** Fixed tar header fields so shards are byte-identical. */
const TAR_MTIME = new Date(CREATED_AT);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/** One export row, keys in the order every format writes them. */
export interface SampleRow {
  session_id: string;
  t_ms: number;
  frame: { image_url: string; viewport: Viewport; dom: JsonObject; accessibility_tree: string; device_pixel_ratio: number };
  action: JsonObject & { type: string };
  context: {
    workflow: string;
    prior_action: JsonObject | null;
    outcome: string;
    actor: { kind: string };
    tags: string[];
    path: string;
    started_at: string;
    ticket_id: string;
  };
  capture: { tool_version: string };
}

interface PlannedStep {
  row: SampleRow;
  state: UiState;
  key: string;
  framePath: string;
}

// ---------- deterministic randomness ----------

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const int = (rnd: () => number, lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
function ulidLike(prefix: string, rnd: () => number, head = '01HXY'): string {
  let s = head;
  while (s.length < 26) s += CROCKFORD[Math.floor(rnd() * 32)];
  return prefix + s;
}
const pad9 = (n: number) => String(n).padStart(9, '0');

// ---------- sessions and steps ----------

interface SessionSpec {
  id: string;
  seed: number;
  viewport: Viewport;
  outcome: 'success' | 'error' | 'abandoned';
  actor: 'human' | 'model' | 'script';
  path: string;
  tags: string[];
  startedAt: string;
  ticketId: string;
  steps: number;
  /** Terminal click for success/error sessions. */
  finish: 'Approve' | 'Reject' | null;
}

const VENDORS = ['Northwind Traders', 'Acme GmbH', 'Globex Ltd', 'Initech Supplies', 'Umbrella Paper Co', 'Stark Office'];
const ITEMS = [
  'Paper A4 500 sheets',
  'Toner cartridge',
  'Desk lamp',
  'USB-C hub',
  'Office chair',
  'Coffee beans 1kg',
  'Whiteboard markers',
  'Monitor arm',
];
const NOTES = ['Net 30, PO 7781', 'Partial delivery', 'Approved by phone', 'Check VAT id'];

const OUTCOMES: SessionSpec['outcome'][] = ['success', 'success', 'error', 'success', 'abandoned', 'success', 'error', 'abandoned'];
const ACTORS: SessionSpec['actor'][] = ['human', 'model', 'human', 'script', 'human', 'model', 'script', 'human'];
const VIEWPORTS: Viewport[] = [
  { w: 1440, h: 900 },
  { w: 1920, h: 1080 },
];

function planSessions(count: number, steps: (rnd: () => number) => number, viewports: Viewport[], seed: number): SessionSpec[] {
  const idRnd = mulberry32(seed);
  const ids = new Set<string>();
  while (ids.size < count) ids.add(ulidLike('ses_', idRnd));
  return [...ids].sort().map((id, i) => {
    const rnd = mulberry32(seed * 7919 + i * 104729 + 1);
    const outcome = OUTCOMES[i % OUTCOMES.length]!;
    const finish = outcome === 'abandoned' ? null : outcome === 'success' && i % 4 === 3 ? 'Reject' : 'Approve';
    const day = 10 + (i % 18);
    const startedAt = `2026-04-${String(day).padStart(2, '0')}T${String(8 + (i % 9)).padStart(2, '0')}:${String(int(rnd, 0, 59)).padStart(2, '0')}:${String(int(rnd, 0, 59)).padStart(2, '0')}Z`;
    const tags = ['finance', 'accounts_payable'];
    if (i % 3 === 0) tags.push('vendor_new');
    if (i % 4 === 1) tags.push('high_value');
    return {
      id,
      seed: seed * 31 + i,
      viewport: viewports[i % viewports.length]!,
      outcome,
      actor: ACTORS[i % ACTORS.length]!,
      path: finish === 'Reject' ? 'reject_path' : outcome === 'abandoned' ? 'edit_lines_path' : 'approve_path',
      tags,
      startedAt,
      ticketId: `TCK-${1040 + i}`,
      steps: steps(rnd),
      finish,
    };
  });
}

function at(rnd: () => number, c: Control): { x: number; y: number } {
  return { x: c.hit.x + int(rnd, 0, c.hit.w - 1), y: c.hit.y + int(rnd, 0, c.hit.h - 1) };
}
const target = (c: Control) => ({ role: c.role, name: c.name, bbox: [c.rect.x, c.rect.y, c.rect.w, c.rect.h] });
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function domOf(st: UiState): JsonObject {
  return {
    tag: 'form',
    id: `invoice-${st.invoiceId}`,
    focus: st.focused ?? '',
    children: [
      ...FIELDS.map((f) => ({
        tag: f === 'Notes' ? 'textarea' : 'input',
        name: f
          .toLowerCase()
          .replace(/[^a-z]+/g, '_')
          .replace(/_$/, ''),
        value: st.values[f] ?? '',
      })),
      { tag: 'table', id: 'line-items', rows: st.lines.length },
      { tag: 'button', text: 'Approve' },
      { tag: 'button', text: 'Reject' },
    ],
  };
}

function a11yOf(st: UiState): string {
  const lines = [`main "Invoice ${st.invoiceId}"`];
  for (const f of FIELDS) lines.push(`  textbox "${f}" value="${st.values[f] ?? ''}"${st.focused === f ? ' focused' : ''}`);
  lines.push(`  table "Line items" rows=${st.lines.length}`);
  for (const b of ['Add line', 'Approve', 'Reject', 'Save draft']) lines.push(`  button "${b}"`);
  if (st.banner) lines.push(`  status "${st.banner}"`);
  return lines.join('\n');
}

/** Steps of one session: each step is the frame state and the action taken on it. */
function* sessionSteps(spec: SessionSpec): Generator<{ state: UiState; action: SampleRow['action']; t_ms: number }> {
  const rnd = mulberry32(spec.seed);
  const vp = spec.viewport;
  const controls = new Map(controlsFor(vp).map((c) => [c.name, c]));
  const ctl = (name: string) => controls.get(name)!;
  const invoiceId = `INV-${2000 + int(rnd, 10, 989)}`;
  const typed: Record<string, string> = {
    Vendor: pick(rnd, VENDORS),
    'Invoice #': invoiceId,
    Amount: `${int(rnd, 1, 19)},${int(rnd, 100, 999)}.${int(rnd, 10, 99)}`,
    Date: `2026-04-${String(int(rnd, 1, 28)).padStart(2, '0')}`,
    'Bank account': '[masked]',
    Notes: pick(rnd, NOTES),
  };
  const order = [...FIELDS];
  for (let i = order.length - 1; i > 0; i--) {
    const j = int(rnd, 0, i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const values: Record<string, string> = Object.fromEntries(order.map((f) => [f, typed[f]!]));
  const st: UiState = {
    url: 'app.example.com/invoices?status=pending',
    invoiceId,
    focused: null,
    values: {},
    lines: Array.from({ length: int(rnd, 3, 6) }, () => ({
      desc: pick(rnd, ITEMS),
      qty: int(rnd, 1, 12),
      amount: `${int(rnd, 5, 480)}.${int(rnd, 10, 99)}`,
    })),
    lineOffset: 0,
    selectedRow: null,
    activeLink: 'Invoices',
    banner: null,
  };
  let t = int(rnd, 300, 1200);
  for (let i = 0; i < spec.steps; i++) {
    const last = i === spec.steps - 1;
    let action: SampleRow['action'];
    if (i === 0) {
      action = { type: 'navigate', url: `https://app.example.com/invoices/${invoiceId}` };
    } else if (last && spec.finish) {
      action = { type: 'click', target: target(ctl(spec.finish)), ...at(rnd, ctl(spec.finish)) };
    } else {
      action = middleAction(rnd, st, ctl, values);
    }
    yield { state: clone(st), action, t_ms: t };
    apply(st, action, values);
    t += int(rnd, 400, 2600) + (action.type === 'input_text' ? String(action.text).length * 90 : 0);
  }
}

function middleAction(rnd: () => number, st: UiState, ctl: (n: string) => Control, values: Record<string, string>): SampleRow['action'] {
  // Fields are filled in the session's own order (the keys of `values`).
  const unfilled = Object.keys(values).filter((f) => st.values[f] === undefined);
  const r = rnd();
  if (unfilled.length && r < 0.45) {
    const f = unfilled[0]!;
    const c = ctl(f);
    if (st.focused !== f && rnd() < 0.45) return { type: 'click', target: target(c), ...at(rnd, c) };
    return { type: 'input_text', target: target(c), ...at(rnd, c), text: values[f]! };
  }
  const kind = pick(rnd, [
    'key',
    'key',
    'scroll',
    'scroll',
    'double_click',
    'drag',
    'drag',
    'link',
    'add_line',
    'save',
    'search',
    'navigate',
  ] as const);
  switch (kind) {
    case 'key':
      if (rnd() < 0.35) return { type: 'key', key: 's', modifiers: ['Control'] };
      return { type: 'key', key: pick(rnd, ['Enter', 'Enter', 'Tab']) };
    case 'scroll':
      return { type: 'scroll', ...at(rnd, ctl(pick(rnd, ROWS))), dx: 0, dy: 480 };
    case 'double_click': {
      const c = ctl(pick(rnd, ROWS));
      return { type: 'double_click', target: target(c), ...at(rnd, c) };
    }
    case 'drag': {
      const from = at(rnd, ctl(ROWS[int(rnd, 0, 1)]!));
      const to = at(rnd, ctl(ROWS[int(rnd, 2, 3)]!));
      const n = int(rnd, 3, 5);
      const pathPts: number[][] = [];
      for (let k = 0; k <= n; k++)
        pathPts.push([Math.round(from.x + ((to.x - from.x) * k) / n), Math.round(from.y + ((to.y - from.y) * k) / n)]);
      return { type: 'drag', x: from.x, y: from.y, to, path: pathPts };
    }
    case 'link': {
      const c = ctl(pick(rnd, LINKS));
      return { type: 'click', target: target(c), ...at(rnd, c) };
    }
    case 'add_line':
    case 'save': {
      const c = ctl(kind === 'save' ? 'Save draft' : 'Add line');
      return { type: 'click', target: target(c), ...at(rnd, c) };
    }
    case 'search': {
      const c = ctl('Search');
      return { type: 'input_text', target: target(c), ...at(rnd, c), text: st.invoiceId };
    }
    case 'navigate':
      return { type: 'navigate', url: `https://app.example.com/invoices/${st.invoiceId}?tab=${pick(rnd, ['lines', 'history'])}` };
  }
}

/** The UI after `a` (what the next frame shows). */
function apply(st: UiState, a: SampleRow['action'], values: Record<string, string>): void {
  const name = (a.target as { name?: string } | undefined)?.name;
  switch (a.type) {
    case 'navigate':
      st.url = String(a.url).replace(/^https:\/\//, '');
      st.banner = null;
      break;
    case 'input_text':
      st.values[name!] = String(a.text);
      st.focused = name!;
      break;
    case 'click':
      if ((FIELDS as readonly string[]).includes(name!) || name === 'Search') st.focused = name!;
      else if ((LINKS as readonly string[]).includes(name!)) st.activeLink = name!;
      else if (name === 'Add line') st.lines.push({ desc: 'New item', qty: 1, amount: '0.00' });
      else if (name === 'Save draft') st.banner = 'Draft saved';
      else if (name === 'Approve') st.banner = 'Approved';
      else if (name === 'Reject') st.banner = 'Rejected';
      break;
    case 'double_click':
      st.selectedRow = name!;
      break;
    case 'key':
      if (a.key === 'Tab') {
        const i = FIELDS.indexOf(st.focused as (typeof FIELDS)[number]);
        st.focused = FIELDS[(i + 1) % FIELDS.length]!;
      } else if (a.key === 's') st.banner = 'Draft saved';
      else if (a.key === 'Enter' && st.focused && values[st.focused] === undefined) st.banner = 'Saved';
      break;
    case 'scroll':
      st.lineOffset = Math.min(st.lineOffset + 2, Math.max(0, st.lines.length - ROWS.length));
      break;
    case 'drag': {
      const i = st.lineOffset;
      const j = Math.min(st.lines.length - 1, st.lineOffset + 2);
      if (i < j) [st.lines[i], st.lines[j]] = [st.lines[j]!, st.lines[i]!];
      break;
    }
  }
}

/** Every step of every session, in (session_id, t_ms) order. */
function* plannedSteps(specs: SessionSpec[]): Generator<PlannedStep> {
  for (const spec of specs) {
    let prior: SampleRow['action'] | null = null;
    for (const { state, action, t_ms } of sessionSteps(spec)) {
      const rel = `frames/${spec.id}/${pad9(t_ms)}.webp`;
      const row: SampleRow = {
        session_id: spec.id,
        t_ms,
        frame: {
          image_url: DESTINATION + rel,
          viewport: { ...spec.viewport },
          dom: domOf(state),
          accessibility_tree: a11yOf(state),
          device_pixel_ratio: 1,
        },
        action,
        context: {
          workflow: WORKFLOW,
          prior_action: prior ? clone(prior) : null,
          outcome: spec.outcome,
          actor: { kind: spec.actor },
          tags: [...spec.tags],
          path: spec.path,
          started_at: spec.startedAt,
          ticket_id: spec.ticketId,
        },
        capture: { tool_version: '1.4.2' },
      };
      prior = action;
      yield { row, state, key: `${spec.id}_${pad9(t_ms)}`, framePath: rel };
    }
  }
}

// ---------- atomic files ----------

async function fsyncAndRename(tmp: string, final: string): Promise<void> {
  const fh = await open(tmp, 'r+');
  await fh.sync();
  await fh.close();
  await rename(tmp, final);
}

async function writeFileAtomic(file: string, bytes: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.partial`;
  await writeFile(tmp, bytes);
  await fsyncAndRename(tmp, file);
}

/** A text file written line by line with backpressure, renamed into place on close. */
class LineFile {
  private readonly tmp: string;
  private readonly out: ReturnType<typeof createWriteStream>;
  constructor(readonly file: string) {
    this.tmp = `${file}.partial`;
    this.out = createWriteStream(this.tmp);
  }
  async write(line: string): Promise<void> {
    if (!this.out.write(line + '\n')) await new Promise<void>((r) => this.out.once('drain', r));
  }
  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await fsyncAndRename(this.tmp, this.file);
  }
}

// ---------- writers (one per export format) ----------

interface FrameStep {
  step: PlannedStep;
  image: Uint8Array;
}

interface ExportWriter {
  /** Start a new data file (shard). */
  open(index: number): Promise<void>;
  add(s: FrameStep): Promise<void>;
  close(): Promise<void>;
}

class JsonlWriter implements ExportWriter {
  private file: LineFile | null = null;
  constructor(private readonly root: string) {}
  async open(i: number) {
    await mkdir(path.join(this.root, 'data'), { recursive: true });
    this.file = new LineFile(path.join(this.root, 'data', `part-${String(i).padStart(5, '0')}.jsonl`));
  }
  async add({ step, image }: FrameStep) {
    await writeFileAtomic(path.join(this.root, step.framePath), image);
    await this.file!.write(JSON.stringify(step.row));
  }
  async close() {
    await this.file!.close();
  }
}

class WebDatasetWriter implements ExportWriter {
  private pack: tar.Pack | null = null;
  private done: Promise<void> | null = null;
  private sidecar: LineFile | null = null;
  private tarFile = '';
  constructor(private readonly root: string) {}
  async open(i: number) {
    const base = path.join(this.root, 'data', `shard-${String(i).padStart(6, '0')}`);
    await mkdir(path.dirname(base), { recursive: true });
    this.tarFile = `${base}.tar`;
    this.pack = tar.pack();
    const out = createWriteStream(`${this.tarFile}.partial`);
    this.done = new Promise<void>((resolve, reject) => {
      out.on('close', resolve);
      out.on('error', reject);
      this.pack!.on('error', reject);
    });
    this.pack.pipe(out);
    this.sidecar = new LineFile(`${base}.jsonl`);
  }
  private entry(name: string, bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pack!.entry(
        { name, size: bytes.length, mode: 0o644, mtime: TAR_MTIME, uid: 0, gid: 0, uname: '', gname: '', type: 'file' },
        bytes,
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }
  async add({ step, image }: FrameStep) {
    await this.entry(`${step.key}.webp`, image);
    await this.entry(`${step.key}.json`, new TextEncoder().encode(JSON.stringify(step.row)));
    await this.sidecar!.write(JSON.stringify({ __key__: step.key, ...step.row }));
  }
  async close() {
    this.pack!.finalize();
    await this.done;
    await fsyncAndRename(`${this.tarFile}.partial`, this.tarFile);
    await this.sidecar!.close();
  }
}

/** hyparquet-writer's own hyparquet version's schema type. */
type SchemaElement = ConstructorParameters<typeof ParquetWriter>[0]['schema'][number];

const utf8 = (name: string): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
const group = (name: string, children: SchemaElement[][]): SchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', num_children: children.length },
  ...children.flat(),
];

/** Parquet: frame struct with embedded image_bytes, action as JSON text, context struct. */
const PARQUET_SCHEMA: SchemaElement[] = [
  { name: 'root', num_children: 6 },
  utf8('session_id'),
  { name: 't_ms', type: 'INT64', repetition_type: 'OPTIONAL' },
  ...group('frame', [
    [utf8('image_url')],
    group('viewport', [
      [{ name: 'w', type: 'INT32', repetition_type: 'OPTIONAL' }],
      [{ name: 'h', type: 'INT32', repetition_type: 'OPTIONAL' }],
    ]),
    [utf8('dom')],
    [utf8('accessibility_tree')],
    [{ name: 'device_pixel_ratio', type: 'DOUBLE', repetition_type: 'OPTIONAL' }],
    [{ name: 'image_bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' }],
  ]),
  utf8('action'),
  ...group('context', [
    [utf8('workflow')],
    [utf8('prior_action')],
    [utf8('outcome')],
    group('actor', [[utf8('kind')]]),
    [
      { name: 'tags', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      utf8('element'),
    ],
    [utf8('path')],
    [utf8('started_at')],
    [utf8('ticket_id')],
  ]),
  ...group('capture', [[utf8('tool_version')]]),
];

class ParquetExportWriter implements ExportWriter {
  private writer: ParquetWriter | null = null;
  private buf: FrameStep[] = [];
  private file = '';
  constructor(
    private readonly root: string,
    private readonly rowGroupRows: number,
  ) {}
  async open(i: number) {
    await mkdir(path.join(this.root, 'data'), { recursive: true });
    this.file = path.join(this.root, 'data', `part-${String(i).padStart(5, '0')}.parquet`);
    this.writer = new ParquetWriter({ writer: fileWriter(`${this.file}.partial`), schema: PARQUET_SCHEMA, createdBy: 'nusomi-samples' });
  }
  async add(s: FrameStep) {
    this.buf.push(s);
    if (this.buf.length >= this.rowGroupRows) this.flush();
  }
  private flush() {
    if (!this.buf.length) return;
    const rows = this.buf.map((s) => s.step.row);
    this.writer!.write({
      rowGroupSize: this.buf.length,
      columnData: [
        { name: 'session_id', data: rows.map((r) => r.session_id) },
        { name: 't_ms', data: rows.map((r) => BigInt(r.t_ms)) },
        // Frames are WebP: no compression, no dictionary probing, no statistics on the bytes.
        {
          name: 'frame',
          codec: 'UNCOMPRESSED',
          encoding: 'PLAIN',
          statistics: false,
          data: this.buf.map(({ step, image }) => ({
            ...step.row.frame,
            dom: JSON.stringify(step.row.frame.dom),
            image_bytes: image,
          })),
        },
        { name: 'action', data: rows.map((r) => JSON.stringify(r.action)) },
        {
          name: 'context',
          data: rows.map((r) => ({ ...r.context, prior_action: r.context.prior_action && JSON.stringify(r.context.prior_action) })),
        },
        { name: 'capture', data: rows.map((r) => r.capture) },
      ],
    });
    this.buf = [];
  }
  async close() {
    this.flush();
    this.writer!.finish();
    await fsyncAndRename(`${this.file}.partial`, this.file);
  }
}

const nul = (name: string, type: ConstructorParameters<typeof Field>[1]) => new Field(name, type, true);
const ACTION_FIELDS = [
  nul('type', new Utf8()),
  nul('target', new Struct([nul('role', new Utf8()), nul('name', new Utf8()), nul('bbox', new List(nul('item', new Int32())))])),
  nul('x', new Int32()),
  nul('y', new Int32()),
  nul('text', new Utf8()),
  nul('key', new Utf8()),
  nul('modifiers', new List(nul('item', new Utf8()))),
  nul('dx', new Int32()),
  nul('dy', new Int32()),
  nul('to', new Struct([nul('x', new Int32()), nul('y', new Int32())])),
  nul('path', new List(nul('item', new List(nul('item', new Int32()))))),
  nul('url', new Utf8()),
];
/** Arrow: frame struct (no bytes), action struct (union of all action fields), context struct. */
const ARROW_SCHEMA = new Schema([
  nul('session_id', new Utf8()),
  nul('t_ms', new Int64()),
  nul(
    'frame',
    new Struct([
      nul('image_url', new Utf8()),
      nul('viewport', new Struct([nul('w', new Int32()), nul('h', new Int32())])),
      nul('dom', new Utf8()),
      nul('accessibility_tree', new Utf8()),
      nul('device_pixel_ratio', new Float64()),
    ]),
  ),
  nul('action', new Struct(ACTION_FIELDS)),
  nul(
    'context',
    new Struct([
      nul('workflow', new Utf8()),
      nul('prior_action', new Utf8()),
      nul('outcome', new Utf8()),
      nul('actor', new Struct([nul('kind', new Utf8())])),
      nul('tags', new List(nul('item', new Utf8()))),
      nul('path', new Utf8()),
      nul('started_at', new Utf8()),
      nul('ticket_id', new Utf8()),
    ]),
  ),
  nul('capture', new Struct([nul('tool_version', new Utf8())])),
]);

function arrowRow(r: SampleRow): Record<string, unknown> {
  const action: Record<string, unknown> = {};
  for (const f of ACTION_FIELDS) action[f.name] = (r.action as Record<string, unknown>)[f.name] ?? null;
  return {
    session_id: r.session_id,
    t_ms: BigInt(r.t_ms),
    frame: { ...r.frame, dom: JSON.stringify(r.frame.dom) },
    action,
    context: { ...r.context, prior_action: r.context.prior_action && JSON.stringify(r.context.prior_action) },
    capture: r.capture,
  };
}

/** Arrow IPC file: one record batch per `batchRows` rows (the file format's footer comes last, so the
 *  batches are kept until close: fine for the samples; large mode writes the IPC stream format). */
class ArrowWriter implements ExportWriter {
  private batches: RecordBatch[] = [];
  private buf: SampleRow[] = [];
  private file = '';
  constructor(
    private readonly root: string,
    private readonly batchRows: number,
  ) {}
  async open(i: number) {
    this.file = path.join(this.root, 'data', `part-${String(i).padStart(5, '0')}.arrow`);
    this.batches = [];
  }
  async add({ step, image }: FrameStep) {
    await writeFileAtomic(path.join(this.root, step.framePath), image);
    this.buf.push(step.row);
    if (this.buf.length >= this.batchRows) this.flush();
  }
  private flush() {
    if (!this.buf.length) return;
    const vec = vectorFromArray(this.buf.map(arrowRow), new Struct(ARROW_SCHEMA.fields));
    if (vec.data.length !== 1) throw new Error('arrow: expected one chunk per batch');
    this.batches.push(new RecordBatch(ARROW_SCHEMA, vec.data[0]!));
    this.buf = [];
  }
  async close() {
    this.flush();
    await writeFileAtomic(this.file, tableToIPC(new Table(ARROW_SCHEMA, this.batches), 'file'));
  }
}

/** Arrow IPC stream written batch by batch (bounded memory, for large mode): apache-arrow's own stream
 *  writer buffers without limit, so each batch is serialised alone and the repeated schema dropped. */
class ArrowStreamWriter implements ExportWriter {
  private fh: ReturnType<typeof createWriteStream> | null = null;
  private buf: SampleRow[] = [];
  private file = '';
  private first = true;
  private readonly schemaLen = tableToIPC(new Table(ARROW_SCHEMA), 'stream').length - 8;
  constructor(
    private readonly root: string,
    private readonly batchRows: number,
  ) {}
  async open(i: number) {
    await mkdir(path.join(this.root, 'data'), { recursive: true });
    this.file = path.join(this.root, 'data', `part-${String(i).padStart(5, '0')}.arrow`);
    this.fh = createWriteStream(`${this.file}.partial`);
    this.first = true;
  }
  private async put(bytes: Uint8Array) {
    if (!this.fh!.write(bytes)) await new Promise<void>((r) => this.fh!.once('drain', r));
  }
  async add({ step, image }: FrameStep) {
    await writeFileAtomic(path.join(this.root, step.framePath), image);
    this.buf.push(step.row);
    if (this.buf.length >= this.batchRows) await this.flush();
  }
  private async flush() {
    if (!this.buf.length) return;
    const vec = vectorFromArray(this.buf.map(arrowRow), new Struct(ARROW_SCHEMA.fields));
    const ipc = tableToIPC(new Table(ARROW_SCHEMA, new RecordBatch(ARROW_SCHEMA, vec.data[0]!)), 'stream');
    await this.put(ipc.subarray(this.first ? 0 : this.schemaLen, ipc.length - 8));
    this.first = false;
    this.buf = [];
  }
  async close() {
    await this.flush();
    if (this.first) await this.put(tableToIPC(new Table(ARROW_SCHEMA), 'stream').subarray(0, this.schemaLen));
    await this.put(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])); // end-of-stream marker
    await new Promise<void>((resolve, reject) => this.fh!.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await fsyncAndRename(`${this.file}.partial`, this.file);
  }
}

function writerFor(format: ExportFormat, root: string, large: boolean): ExportWriter {
  switch (format) {
    case 'jsonl':
      return new JsonlWriter(root);
    case 'webdataset':
      return new WebDatasetWriter(root);
    case 'parquet':
      return new ParquetExportWriter(root, large ? 100 : 32);
    case 'arrow':
      return large ? new ArrowStreamWriter(root, 256) : new ArrowWriter(root, 48);
  }
}

export interface Manifest {
  export_id: string;
  workflow: string;
  format: ExportFormat;
  rows: number;
  shards: number;
  shard_size_bytes: number;
  frames: number;
  actions: number;
  filter_summary: string;
  destination: string;
  created_at: string;
}

function manifestFor(format: ExportFormat, rows: number, shards: number, seed: number, filter: string): Manifest {
  return {
    export_id: ulidLike('exp_', mulberry32(seed * 131 + FORMATS.indexOf(format) + 1), '01HZ'),
    workflow: WORKFLOW,
    format,
    rows,
    shards,
    shard_size_bytes: SHARD_SIZE_BYTES,
    frames: rows,
    actions: rows,
    filter_summary: filter,
    destination: DESTINATION,
    created_at: CREATED_AT,
  };
}

/** Write `steps` as one export; a new data file starts at each index in `shardStarts` (0 included). */
async function writeExport(
  format: ExportFormat,
  root: string,
  steps: AsyncIterable<FrameStep> | Iterable<FrameStep>,
  shardStart: (index: number, step: PlannedStep, prev: PlannedStep | null) => boolean,
  large: boolean,
  seed: number,
  filter: string,
  /** Manifest fields set after the counts are known (a frame-sampled export's actions, frame_sampling). */
  manifestExtra: (m: Manifest) => Record<string, unknown> = () => ({}),
): Promise<Manifest> {
  const w = writerFor(format, root, large);
  let rows = 0;
  let shards = 0;
  let prev: PlannedStep | null = null;
  for await (const s of steps) {
    if (rows === 0 || shardStart(rows, s.step, prev)) {
      if (shards > 0) await w.close();
      await w.open(shards++);
    }
    await w.add(s);
    prev = s.step;
    rows++;
  }
  if (shards > 0) await w.close();
  const base = manifestFor(format, rows, shards, seed, filter);
  const m: Manifest = { ...base, ...manifestExtra(base) };
  await writeFileAtomic(path.join(root, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
  return m;
}

// ---------- the two modes ----------

export interface SampleStats {
  sessions: number;
  rows: number;
  actionTypes: Record<string, number>;
  outcomes: Record<string, number>;
  actors: Record<string, number>;
}

const SAMPLE_SEED = 20260522;
const SAMPLE_FILTER = 'workflow=process_invoice; since=2026-04-01; until=2026-05-01';

/** The committed sample exports: `out/{jsonl,parquet,arrow,webdataset}/`, byte-identical every run. */
function planSamples(seed = SAMPLE_SEED): { specs: SessionSpec[]; planned: PlannedStep[]; stats: SampleStats } {
  // Fixed session lengths (5 to 20 steps) keep the samples small (< 10 MB) and their stats stable.
  const lengths = [9, 5, 12, 7, 20, 8, 6, 10];
  let n = 0;
  const specs = planSessions(lengths.length, () => lengths[n++]!, VIEWPORTS, seed);
  const planned = [...plannedSteps(specs)];
  return { specs, planned, stats: statsOf(specs, planned) };
}

/** What the samples hold (sessions, rows, counts per action type/outcome/actor), without rendering. */
export function sampleStats(seed = SAMPLE_SEED): SampleStats {
  return planSamples(seed).stats;
}

export async function makeSamples(out: string): Promise<SampleStats> {
  const { planned, stats } = planSamples();
  for (const [what, need] of [
    ['actionTypes', ['click', 'double_click', 'input_text', 'key', 'scroll', 'drag', 'navigate']],
    ['outcomes', ['success', 'error', 'abandoned']],
    ['actors', ['human', 'model', 'script']],
  ] as const) {
    for (const k of need) if (!stats[what][k]) throw new Error(`samples: no ${k} among ${what}; change the seed`);
  }
  if (!planned.some((p) => p.row.action.type === 'input_text' && p.row.action.text === '[masked]'))
    throw new Error('samples: nothing masked');
  if (!planned.some((p) => p.row.action.type === 'key' && p.row.action.modifiers)) throw new Error('samples: no key with modifiers');
  if (!planned.some((p) => p.row.action.type === 'key' && p.row.action.key === 'Enter')) throw new Error('samples: no Enter key');

  // Render every frame once (2 at a time: sharp works off the main thread).
  const images: Uint8Array[] = new Array(planned.length);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < planned.length) {
        const i = next++;
        const p = planned[i]!;
        images[i] = await renderFrame(p.row.frame.viewport, p.state, { quality: 50 });
      }
    }),
  );
  const frameSteps = planned.map((step, i) => ({ step, image: images[i]! }));
  // Two data files (jsonl, webdataset) split at the session boundary nearest the middle.
  const half = planned.length / 2;
  let splitAt = 0;
  for (let i = 1; i < planned.length; i++) {
    if (planned[i]!.row.session_id !== planned[i - 1]!.row.session_id && Math.abs(i - half) < Math.abs(splitAt - half)) splitAt = i;
  }
  for (const format of FORMATS) {
    const root = path.join(out, format);
    await rm(root, { recursive: true, force: true });
    const split = format === 'jsonl' || format === 'webdataset';
    await writeExport(format, root, frameSteps, (i) => split && i === splitAt, false, SAMPLE_SEED, SAMPLE_FILTER);
  }
  return stats;
}

function statsOf(specs: SessionSpec[], planned: PlannedStep[]): SampleStats {
  const count = (xs: string[]) =>
    xs.reduce<Record<string, number>>((m, k) => {
      m[k] = (m[k] ?? 0) + 1;
      return m;
    }, {});
  return {
    sessions: specs.length,
    rows: planned.length,
    actionTypes: count(planned.map((p) => p.row.action.type)),
    outcomes: count(specs.map((s) => s.outcome)),
    actors: count(specs.map((s) => s.actor)),
  };
}

export interface LargeOptions {
  sessions: number;
  steps: number;
  format: ExportFormat;
  out: string;
  poolSize?: number;
}

const LARGE_ROWS_PER_FILE: Record<ExportFormat, number> = { jsonl: 10_000, parquet: 5_000, webdataset: 1_000, arrow: 10_000 };

/** A big export for benchmarks, streamed: ~150 KB frames from a pool of distinct renders. */
export async function makeLargeExport(o: LargeOptions): Promise<Manifest> {
  const specs = planSessions(o.sessions, () => o.steps, [{ w: 1440, h: 900 }], SAMPLE_SEED + 1);
  const poolSize = o.poolSize ?? 64;
  // The pool: states from the first sessions' steps, each with its own noise block.
  const poolStates: PlannedStep[] = [];
  for (const p of plannedSteps(specs)) {
    poolStates.push(p);
    if (poolStates.length >= poolSize) break;
  }
  const pool: Uint8Array[] = new Array(poolStates.length);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < poolStates.length) {
        const i = next++;
        pool[i] = await renderFrame({ w: 1440, h: 900 }, poolStates[i]!.state, { quality: 90, photoSeed: 1000 + i });
      }
    }),
  );
  await rm(o.out, { recursive: true, force: true });
  let i = 0;
  const steps = (function* () {
    for (const step of plannedSteps(specs)) yield { step, image: pool[i++ % pool.length]! };
  })();
  const per = LARGE_ROWS_PER_FILE[o.format];
  return writeExport(
    o.format,
    o.out,
    steps,
    (n) => n % per === 0,
    true,
    SAMPLE_SEED + 1,
    `workflow=process_invoice; synthetic benchmark (${o.sessions}x${o.steps})`,
  );
}

// ---------- frame-sampled exports ----------

/**
 * What a frame of a frame-sampled export shows (the test ground truth for keyframes):
 *  - `action`: an action frame (the UI before the action, the pointer where it acts);
 *  - `effect`: the first frame after an action: its effect (a focus ring, typed text, a banner...);
 *  - `loading`: a loading panel over the content area, right after a navigation (a large change);
 *  - `settled`: the page back after loading (a large change);
 *  - `idle`: the same UI as the frame before it, the pointer moved a few pixels (near-identical).
 */
export type SampledFrameKind = 'action' | 'effect' | 'loading' | 'settled' | 'idle';

export interface SampledFrame {
  session_id: string;
  t_ms: number;
  kind: SampledFrameKind;
}

export interface FrameSampledOptions {
  out: string;
  format?: ExportFormat;
  /** The capture's frame interval between actions (default 400 ms). */
  intervalMs?: number;
}

/** Session lengths (actions) of the frame-sampled export: small, its frames are many. */
const SAMPLED_LENGTHS = [6, 4, 6];
const SAMPLED_SEED = SAMPLE_SEED + 2;

/** The pointer's small drift while nobody acts: k-th frame after an action, a few pixels. */
const drift = (p: { x: number; y: number }, k: number) => ({ x: p.x + ((k * 3) % 7), y: p.y + ((k * 2) % 5) });

/**
 * A frame-sampled export (the vendor's `frame_sampling: {mode: "every_n_ms"}`): every action frame,
 * plus a frame every `intervalMs` between actions with `action: {"type": "none"}`. Byte-identical on
 * every run. Returns the manifest and what each frame shows, in row order.
 */
export async function makeFrameSampledExport(o: FrameSampledOptions): Promise<{ manifest: Manifest; frames: SampledFrame[] }> {
  const interval = o.intervalMs ?? 400;
  if (!(Number.isInteger(interval) && interval >= 10)) throw new Error('frame interval must be an integer >= 10 ms');
  const format = o.format ?? 'jsonl';
  let n = 0;
  const specs = planSessions(SAMPLED_LENGTHS.length, () => SAMPLED_LENGTHS[n++]!, [{ w: 1440, h: 900 }], SAMPLED_SEED);
  const planned: Array<{ step: PlannedStep; overlay: FrameOverlay; kind: SampledFrameKind }> = [];
  for (const spec of specs) {
    const acts = [...sessionSteps(spec)];
    let pointer = { x: Math.round(spec.viewport.w / 2), y: Math.round(spec.viewport.h / 2) };
    let prior: SampleRow['action'] | null = null;
    const push = (state: UiState, action: SampleRow['action'], t: number, overlay: FrameOverlay, kind: SampledFrameKind) => {
      const rel = `frames/${spec.id}/${pad9(t)}.webp`;
      const row: SampleRow = {
        session_id: spec.id,
        t_ms: t,
        frame: {
          image_url: DESTINATION + rel,
          viewport: { ...spec.viewport },
          dom: domOf(state),
          accessibility_tree: a11yOf(state),
          device_pixel_ratio: 1,
        },
        action,
        context: {
          workflow: WORKFLOW,
          prior_action: prior ? clone(prior) : null,
          outcome: spec.outcome,
          actor: { kind: spec.actor },
          tags: [...spec.tags],
          path: spec.path,
          started_at: spec.startedAt,
          ticket_id: spec.ticketId,
        },
        capture: { tool_version: '1.4.2' },
      };
      planned.push({ step: { row, state, key: `${spec.id}_${pad9(t)}`, framePath: rel }, overlay, kind });
    };
    acts.forEach((a, i) => {
      if (typeof a.action.x === 'number' && typeof a.action.y === 'number') pointer = { x: a.action.x, y: a.action.y };
      push(a.state, a.action, a.t_ms, { pointer }, 'action');
      prior = a.action;
      const next = acts[i + 1];
      if (!next) return;
      const loads =
        a.action.type === 'navigate' || (LINKS as readonly string[]).includes(String((a.action.target as JsonObject | undefined)?.name));
      for (let k = 1, t = a.t_ms + interval; t < next.t_ms; k++, t += interval) {
        const kind: SampledFrameKind = k === 1 ? (loads ? 'loading' : 'effect') : k === 2 && loads ? 'settled' : 'idle';
        push(next.state, { type: 'none' }, t, { pointer: drift(pointer, k), loading: kind === 'loading' }, kind);
      }
    });
  }
  // Many frames: a low WebP effort keeps this quick (2 at a time: sharp works off the main thread).
  const images: Uint8Array[] = new Array(planned.length);
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < planned.length) {
        const i = next++;
        const p = planned[i]!;
        images[i] = await renderFrame(p.step.row.frame.viewport, p.step.state, { quality: 50, effort: 0, overlay: p.overlay });
      }
    }),
  );
  await rm(o.out, { recursive: true, force: true });
  const actions = planned.filter((p) => p.kind === 'action').length;
  const manifest = await writeExport(
    format,
    o.out,
    planned.map((p, i) => ({ step: p.step, image: images[i]! })),
    () => false,
    false,
    SAMPLED_SEED,
    `workflow=process_invoice; frame_sampling=every_n_ms:${interval}`,
    () => ({ actions, frame_sampling: { mode: 'every_n_ms', interval_ms: interval, keep_action_frames: true } }),
  );
  return { manifest, frames: planned.map((p) => ({ session_id: p.step.row.session_id, t_ms: p.step.row.t_ms, kind: p.kind })) };
}

// ---------- command line ----------

function usage(msg: string): never {
  process.stderr.write(`make-samples: ${msg}\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      out: { type: 'string' },
      sessions: { type: 'string' },
      steps: { type: 'string' },
      format: { type: 'string' },
      'frames-every-ms': { type: 'string' },
    },
  });
  if (values['frames-every-ms'] !== undefined) {
    const interval = Number(values['frames-every-ms']);
    if (!Number.isInteger(interval) || interval < 10) usage('--frames-every-ms must be an integer >= 10');
    if (values.sessions !== undefined || values.steps !== undefined)
      usage('--frames-every-ms writes its own small export; drop --sessions/--steps');
    const format = (values.format ?? 'jsonl') as ExportFormat;
    if (!FORMATS.includes(format)) usage('--format must be jsonl, parquet, arrow or webdataset');
    if (!values.out) usage('--frames-every-ms needs --out DIR');
    const out = path.resolve(values.out);
    const { manifest } = await makeFrameSampledExport({ out, format, intervalMs: interval });
    process.stdout.write(`${JSON.stringify({ out, rows: manifest.rows, actions: manifest.actions })}\n`);
    return;
  }
  if (values.sessions === undefined && values.steps === undefined) {
    if (values.format) usage('--format applies to large mode (--sessions N --steps M)');
    const out = path.resolve(values.out ?? path.join(repoRoot, 'samples'));
    const s = await makeSamples(out);
    process.stdout.write(`${JSON.stringify({ out, ...s })}\n`);
    return;
  }
  const sessions = Number(values.sessions);
  const steps = Number(values.steps);
  if (!Number.isInteger(sessions) || sessions < 1) usage('--sessions must be a positive integer');
  if (!Number.isInteger(steps) || steps < 2) usage('--steps must be an integer ≥ 2');
  const format = (values.format ?? 'jsonl') as ExportFormat;
  if (!FORMATS.includes(format)) usage('--format must be jsonl, parquet, arrow or webdataset');
  if (!values.out) usage('large mode needs --out DIR (outside the repository)');
  const out = path.resolve(values.out);
  const rel = path.relative(path.join(repoRoot, 'samples'), out);
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel)))
    usage(`--out ${values.out} is inside samples/; large exports do not belong there`);
  const m = await makeLargeExport({ sessions, steps, format, out });
  process.stdout.write(`${JSON.stringify({ out, rows: m.rows, shards: m.shards })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`make-samples: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
