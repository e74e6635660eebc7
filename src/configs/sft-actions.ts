/**
 * The sft config's action text: a steps row's action as one canonical action (the dict the
 * generated loaders' `parse_action` returns), then that action in one of three grammars.
 *
 * Canonical action: `{action, x?, y?, to_x?, to_y?, dx?, dy?, text?, keys?, url?}` with the
 * coordinates in the chosen convention:
 *  - `norm`: x / stored width, y / stored height, 4 decimals, in [0, 1);
 *  - `norm1000`: round(x / stored width * 1000), an integer 0..999 (likewise y);
 *  - `pixels`: pixels of the stored (possibly resized) image, as the steps row holds them.
 * A coordinate the capture masked stays the string "[masked]"; typed text stays as captured
 * ("[masked]" included). Scroll amounts `dx`, `dy` are the captured deltas (not coordinates).
 *
 * The grammars (each line of a pyautogui action is one call; strings are JSON string literals,
 * which Python reads as they are):
 *  - pyautogui: click `pyautogui.click(x=0.4250, y=0.4311)`, double_click `pyautogui.doubleClick`,
 *    right_click `pyautogui.rightClick`, hover `pyautogui.moveTo`, input_text
 *    `pyautogui.click(...)` + `pyautogui.write("...")` (the click only when it has a position),
 *    key `pyautogui.press("tab")` / `pyautogui.hotkey("ctrl", "s")`, scroll
 *    `pyautogui.scroll(-dy, x=, y=)` (+ `pyautogui.hscroll(dx, ...)`; positive is up / right, as
 *    in pyautogui), drag `pyautogui.moveTo(x, y)` + `pyautogui.dragTo(x=to_x, y=to_y)`; and, where
 *    pyautogui has no call, `computer.navigate(url=...)`, `computer.select(x=, y=, text=...)`,
 *    `computer.wait()`.
 *  - json: `{"action":"click","x":0.4250,"y":0.4311}`, keys in the canonical order above.
 *  - function: `click(x=0.4250, y=0.4311)`, `input_text(x=, y=, text="...")`, `key(keys=["Control", "s"])`,
 *    `scroll(x=, y=, dx=0, dy=480)`, `drag(x=, y=, to_x=, to_y=)`, `navigate(url="...")`, `select(...)`, `wait()`.
 * A type outside ACTION_TYPES has no rendering: convert stops naming the row.
 */
import { KNOWN_ACTION_TYPES } from '../hf/labels.ts';
import { InputError } from '../errors.ts';
import type { ActionRow } from '../hf/steps-schema.ts';

export const ACTION_FORMATS = ['pyautogui', 'json', 'function'] as const;
export type ActionFormat = (typeof ACTION_FORMATS)[number];
export const COORDS = ['norm', 'norm1000', 'pixels'] as const;
export type Coords = (typeof COORDS)[number];

/** The action types with a rendering: the vendor's known vocabulary. */
export const ACTION_TYPES = KNOWN_ACTION_TYPES;
const RENDERED: ReadonlySet<string> = new Set(ACTION_TYPES);

export const MASKED = '[masked]';
type Coord = number | typeof MASKED;

/** A canonical action: field order is the json grammar's key order. */
export interface CanonicalAction {
  action: string;
  x?: Coord;
  y?: Coord;
  to_x?: Coord;
  to_y?: Coord;
  dx?: number;
  dy?: number;
  text?: string;
  keys?: string[];
  url?: string;
}

/** pyautogui's names for the capture's (DOM) key names; other keys are written as captured. */
export const PYAUTOGUI_KEYS: Readonly<Record<string, string>> = {
  Control: 'ctrl',
  Shift: 'shift',
  Alt: 'alt',
  Meta: 'win',
  Enter: 'enter',
  Tab: 'tab',
  Escape: 'esc',
  Backspace: 'backspace',
  Delete: 'delete',
  ArrowUp: 'up',
  ArrowDown: 'down',
  ArrowLeft: 'left',
  ArrowRight: 'right',
  PageUp: 'pageup',
  PageDown: 'pagedown',
  Home: 'home',
  End: 'end',
  ' ': 'space',
};

/** Stored image size: normalised coordinates are relative to it. */
export interface FrameSize {
  w: number;
  h: number;
}

function coord(v: number | null, masked: unknown, size: number, coords: Coords): Coord | undefined {
  if (v === null) return masked === MASKED ? MASKED : undefined;
  if (coords === 'pixels') return v;
  if (coords === 'norm1000') return Math.min(999, Math.round((v / size) * 1000));
  return Math.round((v / size) * 10000) / 10000;
}

/** The canonical action of a steps row's action (`type` already named), or an error naming the row. */
export function canonicalAction(type: string, a: ActionRow, frame: FrameSize, coords: Coords, where: string): CanonicalAction {
  if (!RENDERED.has(type)) {
    throw new InputError(`sft: action type "${type}" has no rendering; the sft config renders ${ACTION_TYPES.join(', ')}`, {
      row: where,
    });
  }
  const positioned = type !== 'key' && type !== 'navigate' && type !== 'wait';
  // Masked coordinates have no column (they are not numbers): they are kept in args, read only then.
  const needArgs =
    (positioned && (a.x === null || a.y === null)) || (type === 'drag' && (a.to_x === null || a.to_y === null)) || type === 'select';
  const args = needArgs ? parseArgs(a.args) : {};
  const to = isObject(args.to) ? args.to : {};
  const out: CanonicalAction = { action: type };
  const put = <K extends keyof CanonicalAction>(k: K, v: CanonicalAction[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  if (positioned) {
    put('x', coord(a.x, args.x, frame.w, coords));
    put('y', coord(a.y, args.y, frame.h, coords));
  }
  if (type === 'drag') {
    put('to_x', coord(a.to_x, to.x, frame.w, coords));
    put('to_y', coord(a.to_y, to.y, frame.h, coords));
  }
  if (type === 'scroll') {
    out.dx = a.dx ?? 0;
    out.dy = a.dy ?? 0;
  }
  if (type === 'input_text') out.text = a.text ?? '';
  if (type === 'select') {
    const option = a.text ?? (typeof args.value === 'string' ? args.value : null);
    if (option !== null) out.text = option;
  }
  if (type === 'key') out.keys = [...(a.modifiers ?? []), ...(a.key === null ? [] : [a.key])];
  if (type === 'navigate') out.url = a.url ?? '';
  return out;
}

function parseArgs(text: string): Record<string, unknown> {
  const v: unknown = JSON.parse(text);
  return isObject(v) ? v : {};
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// ---------------------------------------------------------------------------------------------
// Rendering

function num(v: Coord | number, coords: Coords): string {
  if (v === MASKED) return JSON.stringify(MASKED);
  return coords === 'norm' ? v.toFixed(4) : String(v);
}

/** `x=…, y=…` of the present coordinates (a coordinate is a number in the convention, or "[masked]"). */
function kwargs(
  pairs: Array<[string, Coord | number | string | string[] | undefined]>,
  coords: Coords,
  coordNames: ReadonlySet<string>,
): string {
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${coordNames.has(k) ? num(v as Coord, coords) : JSON.stringify(v)}`)
    .join(', ');
}

const COORD_KEYS: ReadonlySet<string> = new Set(['x', 'y', 'to_x', 'to_y']);

export function renderAction(a: CanonicalAction, format: ActionFormat, coords: Coords): string {
  if (format === 'json') return renderJson(a, coords);
  if (format === 'function') return renderFunction(a, coords);
  return renderPyautogui(a, coords);
}

function renderJson(a: CanonicalAction, coords: Coords): string {
  const parts = Object.entries(a).map(
    ([k, v]) => `${JSON.stringify(k)}:${COORD_KEYS.has(k) ? num(v as Coord, coords) : JSON.stringify(v)}`,
  );
  return `{${parts.join(',')}}`;
}

function renderFunction(a: CanonicalAction, coords: Coords): string {
  const { action, ...rest } = a;
  return `${action}(${kwargs(Object.entries(rest), coords, COORD_KEYS)})`;
}

const pyKey = (k: string): string => PYAUTOGUI_KEYS[k] ?? k;

function renderPyautogui(a: CanonicalAction, coords: Coords): string {
  const at = (x: Coord | undefined, y: Coord | undefined) =>
    kwargs(
      [
        ['x', x],
        ['y', y],
      ],
      coords,
      COORD_KEYS,
    );
  const call = (fn: string, args: string) => `${fn}(${args})`;
  switch (a.action) {
    case 'click':
      return call('pyautogui.click', at(a.x, a.y));
    case 'double_click':
      return call('pyautogui.doubleClick', at(a.x, a.y));
    case 'right_click':
      return call('pyautogui.rightClick', at(a.x, a.y));
    case 'hover':
      return call('pyautogui.moveTo', at(a.x, a.y));
    case 'input_text': {
      const write = call('pyautogui.write', JSON.stringify(a.text ?? ''));
      return a.x === undefined && a.y === undefined ? write : `${call('pyautogui.click', at(a.x, a.y))}\n${write}`;
    }
    case 'key': {
      const keys = (a.keys ?? []).map((k) => JSON.stringify(pyKey(k)));
      return keys.length === 1 ? call('pyautogui.press', keys[0]!) : call('pyautogui.hotkey', keys.join(', '));
    }
    case 'scroll': {
      const where = at(a.x, a.y);
      const lines: string[] = [];
      const dx = a.dx ?? 0;
      const dy = a.dy ?? 0;
      // pyautogui scrolls up for positive amounts; a captured dy scrolls the content down when positive.
      if (dy !== 0 || dx === 0) lines.push(call('pyautogui.scroll', [String(-dy), where].filter(Boolean).join(', ')));
      if (dx !== 0) lines.push(call('pyautogui.hscroll', [String(dx), where].filter(Boolean).join(', ')));
      return lines.join('\n');
    }
    case 'drag':
      return `${call('pyautogui.moveTo', at(a.x, a.y))}\n${call('pyautogui.dragTo', at(a.to_x, a.to_y))}`;
    case 'navigate':
      return call('computer.navigate', kwargs([['url', a.url]], coords, COORD_KEYS));
    case 'select':
      return call(
        'computer.select',
        kwargs(
          [
            ['x', a.x],
            ['y', a.y],
            ['text', a.text],
          ],
          coords,
          COORD_KEYS,
        ),
      );
    default:
      return call('computer.wait', '');
  }
}
