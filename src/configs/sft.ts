/**
 * `sft`: one row per step in TRL's conversational prompt-completion format for vision-language
 * models (https://huggingface.co/docs/trl/dataset_formats, "SFT for vision language models"):
 *   images      the frames, oldest first: `--history-frames` previous screens of the session, then the current one
 *   prompt      [system turn, user turn]; the user turn holds one `{"type": "image"}` part per image, then the text
 *   completion  [assistant turn]: the action as text (sft-actions.ts: grammar and coordinates)
 * plus `session_id`, `step`, `t_ms` to join back to `steps`. Content parts are `{type, text}` only:
 * a Parquet list of structs gives every part every field, and TRL counts an image part as a
 * placeholder only when it has no `image` key.
 *
 * History (`--history K` actions, `--history-frames M` frames) is the previous steps of the same
 * session, kept in a window of at most K texts and M frames that is emptied when the session changes.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError, Option } from 'commander';
import { retainShared } from '../buffers/index.ts';
import type { SharedBlock } from '../buffers/index.ts';
import { InputError, UsageError } from '../errors.ts';
import { stepLocation } from '../export/step.ts';
import { probeHeader } from '../frames/probe.ts';
import { Image, List, Struct, Value } from '../hf/features.ts';
import type { Features } from '../hf/features.ts';
import type { LabelVocabJson } from '../hf/labels.ts';
import type { StepsRow } from '../hf/steps-schema.ts';
import { isoOfMs } from '../hf/timestamps.ts';
import { configShardPath, configShardRows } from './parquet.ts';
import type { RowMapper } from './parquet.ts';
import { ACTION_FORMATS, COORDS, canonicalAction, renderAction } from './sft-actions.ts';
import type { ActionFormat, CanonicalAction, Coords, FrameSize } from './sft-actions.ts';
import { TEMPLATE_FIELDS, loadTemplate, renderTemplate } from './sft-template.ts';
import type { PromptTemplate, TemplateField } from './sft-template.ts';
import type { DatasetConfigModule } from './types.ts';

/** Most previous actions `--history` may put in a prompt. */
export const SFT_MAX_HISTORY = 64;
/** Most previous frames `--history-frames` may add (each is a reference held per row until its row group is written). */
export const SFT_MAX_HISTORY_FRAMES = 8;
/**
 * Rows per row group, as `data/` (the Hub's advice for image rows). The `images` column stores each
 * frame of a group once: a history frame is the same buffer as the frame of an earlier row, and
 * the Parquet writer makes a dictionary page of a list's frames when one repeats, so a group holds
 * about as many frames as rows (plus the history of its first row).
 */
const SFT_GROUP_ROWS = 100;

/** Options of the sft config (`ConvertOptions.sft`). */
export interface SftOptions {
  actionFormat?: ActionFormat;
  coords?: Coords;
  history?: number;
  historyFrames?: number;
  /** `--prompt-template`: the file given. */
  promptTemplate?: string;
  /** The template read from it (by prepare). */
  template?: PromptTemplate;
}

type Resolved = Required<Omit<SftOptions, 'promptTemplate' | 'template'>> & Pick<SftOptions, 'template'>;

export const SFT_DEFAULTS: Resolved = { actionFormat: 'pyautogui', coords: 'norm', history: 0, historyFrames: 0 };

function resolved(o: SftOptions | undefined): Resolved {
  return { ...SFT_DEFAULTS, ...Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) };
}

/** Context fields whose string is the task text of the default prompt (first one present). */
export const TASK_KEYS = ['task', 'instruction', 'goal'] as const;

const GRAMMAR_TEXT: Record<ActionFormat, string> = {
  pyautogui: 'pyautogui code, one call per line (computer.navigate, computer.select and computer.wait where pyautogui has no call)',
  json: 'one JSON object',
  function: 'one function call',
};
const COORDS_TEXT: Record<Coords, string> = {
  norm: 'x and y are fractions of the screenshot width and height (0 to 1, 4 decimals), from the top-left corner',
  norm1000: 'x and y are integers from 0 to 999: x / width * 1000 and y / height * 1000 of the screenshot, from the top-left corner',
  pixels: 'x and y are pixels of the screenshot as given, from its top-left corner',
};

export function systemPrompt(o: Resolved): string {
  return `You are a computer-use agent. The last image is the current screen. Answer with the next action as ${GRAMMAR_TEXT[o.actionFormat]}. Coordinates: ${COORDS_TEXT[o.coords]}.`;
}

/** One history entry per line: a pyautogui action of two calls is written `a; b` (still Python). */
const historyLine = (text: string): string => text.replace(/\n/g, '; ');

const Part = Struct({ type: Value('string'), text: Value('string') });
const Message = Struct({ role: Value('string'), content: List(Part) });

export function sftFeatures(): Features {
  return {
    images: List(Image()),
    prompt: List(Message),
    completion: List(Message),
    session_id: Value('string'),
    step: Value('int32'),
    t_ms: Value('int64'),
  };
}

interface Part {
  type: string;
  text: string | null;
}
interface SftRow {
  images: Array<{ bytes: Uint8Array; path: string }>;
  prompt: Array<{ role: string; content: Part[] }>;
  completion: Array<{ role: string; content: Part[] }>;
  session_id: string;
  step: number;
  t_ms: number;
}

/** The context fields of a row that are not columns (`extra.context`), parsed only when it has any. */
function extraContext(row: StepsRow): Record<string, unknown> {
  if (!row.extra.includes('"context"')) return {};
  const ctx = (JSON.parse(row.extra) as { context?: unknown }).context;
  return ctx && typeof ctx === 'object' && !Array.isArray(ctx) ? (ctx as Record<string, unknown>) : {};
}

function taskText(ctx: Record<string, unknown>): string | null {
  for (const k of TASK_KEYS) if (typeof ctx[k] === 'string' && ctx[k]) return ctx[k] as string;
  return null;
}

const asText = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** The user turn's text: the template's, or the default (workflow, task, screens, history, question). */
function userText(o: Resolved, row: StepsRow, outcomes: readonly string[], history: readonly string[], previousFrames: number): string {
  const ctx = extraContext(row);
  const historyText = history.length ? history.map(historyLine).join('\n') : '(none)';
  if (o.template) {
    const value = (f: TemplateField): string => {
      switch (f) {
        case 'workflow':
          return row.workflow ?? '';
        case 'step':
          return String(row.step);
        case 'viewport':
          return row.viewport?.w != null && row.viewport.h != null ? `${row.viewport.w}x${row.viewport.h}` : '';
        case 'history':
          return historyText;
        case 'task':
          return taskText(ctx) ?? '';
        case 'outcome':
          return row.outcome === null ? '' : (outcomes[row.outcome] ?? '');
        case 'actor_kind':
          return row.actor_kind ?? '';
        case 'tags':
          return (row.tags ?? []).join(', ');
        case 'path':
          return row.path ?? '';
        case 'started_at':
          return row.started_at === null ? '' : isoOfMs(row.started_at);
        default:
          return asText(ctx[f.slice('context.'.length)]);
      }
    };
    return renderTemplate(o.template.parts, value);
  }
  const lines = [`Workflow: ${row.workflow ?? '(unknown)'}`];
  const task = taskText(ctx);
  if (task) lines.push(`Task: ${task}`);
  if (previousFrames === 1) lines.push('The image before the last is the previous screen.');
  if (previousFrames > 1) lines.push(`The ${previousFrames} images before the last are the previous screens, oldest first.`);
  if (o.history) lines.push('Previous actions, oldest first:', historyText);
  lines.push('What is the next action?');
  return lines.join('\n');
}

function sftMapper(o: Resolved, labels: LabelVocabJson): () => RowMapper<SftRow> {
  const system = systemPrompt(o);
  return () => {
    let session: string | undefined;
    let history: string[] = [];
    let frames: Array<{ image: { bytes: Uint8Array; path: string }; held: SharedBlock | undefined }> = [];
    // A frame that left the window is still in the row just returned: it is released only once the
    // writer has taken that row (the next add or end), or its memory could be reused before it is written.
    let leaving: SharedBlock | undefined;
    const releaseLeaving = () => {
      leaving?.release();
      leaving = undefined;
    };
    const dropFrames = () => {
      for (const f of frames) f.held?.release();
      frames = [];
    };
    return {
      add(row) {
        releaseLeaving();
        if (row.session_id !== session) {
          session = row.session_id;
          history = [];
          dropFrames();
        }
        const where = stepLocation(row);
        const probe = probeHeader(row.image.bytes);
        if (!probe)
          throw new InputError('sft: cannot read the stored frame size from its header (webp, png or jpeg expected)', { row: where });
        const size: FrameSize = { w: probe.width, h: probe.height };
        const type = labels.action_type[row.action.type] ?? String(row.action.type);
        const actionText = renderAction(canonicalAction(type, row.action, size, o.coords, where), o.actionFormat, o.coords);
        const current = { bytes: row.image.bytes, path: row.image.path };
        const images = [...frames.map((f) => f.image), current];
        const text = userText(o, row, labels.outcome, history, frames.length);
        const out: SftRow = {
          images,
          prompt: [
            { role: 'system', content: [{ type: 'text', text: system }] },
            { role: 'user', content: [...images.map(() => ({ type: 'image', text: null })), { type: 'text', text }] },
          ],
          completion: [{ role: 'assistant', content: [{ type: 'text', text: actionText }] }],
          session_id: row.session_id,
          step: row.step,
          t_ms: row.t_ms,
        };
        if (o.history) {
          history.push(actionText);
          if (history.length > o.history) history.shift();
        }
        if (o.historyFrames) {
          // convert reuses a frame's memory once add() returns: the window keeps its own reference.
          frames.push({ image: current, held: retainShared(current.bytes) });
          if (frames.length > o.historyFrames) leaving = frames.shift()!.held;
        }
        return [out];
      },
      end() {
        releaseLeaving();
        dropFrames();
        return [];
      },
    };
  };
}

// ---------------------------------------------------------------------------------------------
// Flags

function intIn(flag: string, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0 || n > max)
      throw new InvalidArgumentError(`${flag} expects an integer from 0 to ${max}, got "${v.slice(0, 32)}"`);
    return n;
  };
}

const FLAG_NAMES = ['actionFormat', 'coords', 'history', 'historyFrames', 'promptTemplate'] as const;

// ---------------------------------------------------------------------------------------------
// The card

/** One example of every action type, on a 1000×500 stored frame, for the card. */
const EXAMPLE_FRAME: FrameSize = { w: 1000, h: 500 };
function exampleActions(coords: Coords): CanonicalAction[] {
  const c = (x: number, y: number) =>
    coords === 'pixels'
      ? { x, y }
      : coords === 'norm1000'
        ? { x: Math.round((x / EXAMPLE_FRAME.w) * 1000), y: Math.round((y / EXAMPLE_FRAME.h) * 1000) }
        : { x: x / EXAMPLE_FRAME.w, y: y / EXAMPLE_FRAME.h };
  const to = (x: number, y: number) => {
    const p = c(x, y);
    return { to_x: p.x, to_y: p.y };
  };
  return [
    { action: 'click', ...c(425, 215) },
    { action: 'double_click', ...c(300, 120) },
    { action: 'right_click', ...c(640, 80) },
    { action: 'hover', ...c(500, 250) },
    { action: 'input_text', ...c(425, 215), text: 'INV-2151' },
    { action: 'input_text', ...c(425, 260), text: '[masked]' },
    { action: 'key', keys: ['Tab'] },
    { action: 'key', keys: ['Control', 's'] },
    { action: 'scroll', ...c(500, 300), dx: 0, dy: 480 },
    { action: 'drag', ...c(100, 100), ...to(200, 150) },
    { action: 'navigate', url: 'https://app.example.com/invoices' },
    { action: 'select', ...c(410, 330), text: 'EUR' },
    { action: 'wait' },
  ];
}

export const sftConfig: DatasetConfigModule<'sft'> = {
  name: 'sft',
  folder: 'sft/',
  summary: "TRL's conversational prompt-completion rows for vision-language models (`images`, `prompt`, `completion`), one per step",
  async prepare(opts) {
    const o = resolved(opts.sft);
    const template = opts.sft?.promptTemplate ? await loadTemplate(opts.sft.promptTemplate) : undefined;
    return { ...opts, sft: { ...o, promptTemplate: opts.sft?.promptTemplate, template } };
  },
  rows: (split) => split.rows,
  shardUnit: 'row',
  // The window holds at most K texts and M frames: the K or M steps rows before a row are all its history.
  contextRows(opts) {
    const o = resolved(opts.sft);
    return Math.max(o.history, o.historyFrames);
  },
  shardRows: (split, rowBytes, opts) => configShardRows(split.rows, rowBytes, opts.maxShardBytes),
  shardPath: (split, i, n) => configShardPath('sft', split, i, n),
  // A row group stores each of its frames once (a history frame is a dictionary entry): about one frame per row.
  rowBytes: (stepBytes, _split, opts) => stepBytes * (1 + resolved(opts.sft).historyFrames / SFT_GROUP_ROWS),
  features: () => sftFeatures(),
  recordedOptions(opts) {
    const o = resolved(opts.sft);
    const t = o.template;
    return {
      action_format: o.actionFormat,
      coords: o.coords,
      history: o.history,
      history_frames: o.historyFrames,
      prompt_template: t ? { name: t.name, sha256: createHash('sha256').update(t.text).digest('hex'), text: t.text } : null,
      system_prompt: systemPrompt(o),
    };
  },
  cardSection(m) {
    const rec = m.configs?.sft?.options ?? {};
    const o = resolved({
      actionFormat: rec.action_format as ActionFormat,
      coords: rec.coords as Coords,
      history: rec.history as number,
      historyFrames: rec.history_frames as number,
    });
    const template = rec.prompt_template as { name: string; text: string } | null;
    const examples = exampleActions(o.coords)
      .map((a) => `| ${a.action} | \`${renderAction(a, o.actionFormat, o.coords).replace(/\n/g, '` `').replace(/\|/g, '\\|')}\` |`)
      .join('\n');
    return [
      '### sft',
      '',
      'Rows in TRL\'s conversational prompt-completion format for vision-language models: `images` (list of images), `prompt` (a system turn and a user turn whose content has one `{"type": "image"}` part per image, then the text), `completion` (the assistant turn: the action as text); `session_id`, `step`, `t_ms` join a row back to `default`. `SFTTrainer` takes the config as it is; the loss is on the completion only.',
      '',
      `- action grammar (\`--action-format\`): **${o.actionFormat}**, ${GRAMMAR_TEXT[o.actionFormat]}.`,
      `- coordinates (\`--coords\`): **${o.coords}**: ${COORDS_TEXT[o.coords]}. The screenshot is the stored image (resized with the frames when convert resized them).`,
      `- history: the last **${o.history}** actions of the same session in the user turn (\`--history\`), and the last **${o.historyFrames}** frames of the same session as extra images before the current one, oldest first (\`--history-frames\`). History never crosses sessions; early steps have less of it.`,
      '- masked values (`[masked]`) stay masked: typed text and coordinates the capture masked are written as the string `"[masked]"`.',
      '- every action type the vendor emits has a rendering (below); convert stops on any other type, naming the row.',
      '',
      `System turn: \`${String(rec.system_prompt ?? systemPrompt(o))}\``,
      '',
      template
        ? `User turn text: the template \`${template.name}\` (fields in braces; \`history\` is one action per line, oldest first):\n\n\`\`\`text\n${template.text.replace(/```/g, '` ` `')}\n\`\`\``
        : `User turn text (default): \`Workflow: <workflow>\`, then \`Task: <text>\` when the context has ${TASK_KEYS.map((k) => `\`${k}\``).join(', ')} (the first present), a line naming the previous screens when there are any, the previous actions one per line when \`--history\` is set, and \`What is the next action?\`. \`--prompt-template FILE\` replaces it (fields: ${TEMPLATE_FIELDS.map((f) => `\`{${f}}\``).join(', ')}, \`{context.<name>}\`).`,
      '',
      `Every action type in this grammar (on a 1000×500 screenshot):`,
      '',
      '| type | completion |',
      '|---|---|',
      examples,
      '',
      "The generated loaders (`nusomi-hf loaders --target sft`) ship `parse_action(text)`, the inverse of every grammar, to score a model's outputs.",
      '```python',
      'from datasets import load_dataset',
      'sft = load_dataset("<org/name or path to this folder>", "sft")',
      '```',
    ].join('\n');
  },
  cliOptions: () => [
    new Option('--action-format <grammar>', `sft: how the action is written (default ${SFT_DEFAULTS.actionFormat})`).choices(
      ACTION_FORMATS,
    ),
    new Option('--coords <convention>', `sft: coordinate convention (default ${SFT_DEFAULTS.coords})`).choices(COORDS),
    new Option('--history <k>', 'sft: previous actions of the same session in the prompt (default 0)').argParser(
      intIn('--history', SFT_MAX_HISTORY),
    ),
    new Option('--history-frames <m>', 'sft: previous frames of the same session as extra images (default 0)').argParser(
      intIn('--history-frames', SFT_MAX_HISTORY_FRAMES),
    ),
    new Option('--prompt-template <file>', 'sft: the user turn text with named fields, e.g. {workflow} {history} {context.ticket_id}'),
  ],
  fromFlags(flags) {
    const given = FLAG_NAMES.filter((k) => flags[k] !== undefined);
    if (!given.length) return {};
    const configs = (flags.configs as string[] | undefined) ?? [];
    if (!configs.includes('sft')) {
      const flag = given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      throw new UsageError(`--${flag} shapes the sft config; add --configs sft`);
    }
    return {
      sft: {
        actionFormat: flags.actionFormat as ActionFormat | undefined,
        coords: flags.coords as Coords | undefined,
        history: flags.history as number | undefined,
        historyFrames: flags.historyFrames as number | undefined,
        promptTemplate: flags.promptTemplate as string | undefined,
      },
    };
  },
  async writer() {
    const { configParquetWriter } = await import('./parquet-writer.ts');
    return (run) => configParquetWriter('sft', run, run.approxBytesPerRow, sftMapper(resolved(run.opts.sft), run.labels), SFT_GROUP_ROWS);
  },
};
