/**
 * The synthetic invoice UI the sample exports are screenshots of: its geometry (every clickable
 * control is a rectangle filled with its own solid colour, so a test can tell which control lies
 * under a pixel even after a resize) and a frame renderer (SVG → sharp → WebP).
 *
 * Text is drawn with a built-in 5×7 pixel font made of SVG rectangles, never with system fonts,
 * so the frames are byte-identical on any machine with the same sharp build.
 */
import sharp from 'sharp';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}
export interface Viewport {
  w: number;
  h: number;
}

export interface Control {
  name: string;
  role: string;
  rect: Rect;
  /** Solid fill of the whole rect, `#rrggbb`; unique among controls. */
  fill: string;
  /** Part of `rect` that no text, focus ring or accent ever covers; sample clicks land here. */
  hit: Rect;
}

export interface UiState {
  /** Shown in the top bar. */
  url: string;
  invoiceId: string;
  /** Name of the focused control (focus ring drawn outside its rect), or null. */
  focused: string | null;
  /** Typed values of textboxes by control name. */
  values: Record<string, string>;
  /** Line items in display order (descriptions), and the first one shown (scroll). */
  lines: Array<{ desc: string; qty: number; amount: string }>;
  lineOffset: number;
  selectedRow: string | null;
  activeLink: string;
  banner: string | null;
}

/** Textbox names in tab order. */
export const FIELDS = ['Vendor', 'Invoice #', 'Amount', 'Date', 'Bank account', 'Notes'] as const;
export const ROWS = ['Line 1', 'Line 2', 'Line 3', 'Line 4'] as const;
export const LINKS = ['Dashboard', 'Invoices', 'Vendors', 'Payments', 'Reports'] as const;
export const BUTTONS = ['Add line', 'Approve', 'Reject', 'Save draft'] as const;

// Hand-picked fills, far apart in RGB and from the backgrounds (white, #eef0f3, #1f2937).
const FILLS: Record<string, string> = {
  Search: '#f2c14e',
  Dashboard: '#8fd3d6',
  Invoices: '#c9a4ef',
  Vendors: '#f59a9a',
  Payments: '#9fe09a',
  Reports: '#e8b07a',
  Vendor: '#b8d8ff',
  'Invoice #': '#ffd6f0',
  Amount: '#d9f59a',
  Date: '#a0f0d0',
  'Bank account': '#ffc9a8',
  Notes: '#d8d0ff',
  'Line 1': '#f9e79f',
  'Line 2': '#aee6f7',
  'Line 3': '#f7b6d2',
  'Line 4': '#c2f0b0',
  'Add line': '#7fb3e6',
  Approve: '#4fbf7a',
  Reject: '#e86a6a',
  'Save draft': '#b39ddb',
};

const GLYPH_W = 5;
const GLYPH_H = 7;
/** Pixel size of body text glyphs (10×14 px) and headings. */
const TEXT_PX = 2;
const HEAD_PX = 3;

/** Width in pixels of `text` in the pixel font at `px`. */
export function textWidth(text: string, px = TEXT_PX): number {
  return text.length === 0 ? 0 : text.length * (GLYPH_W + 1) * px - px;
}

function scaleOf(vp: Viewport): number {
  return Math.min(vp.w / 1440, vp.h / 900);
}

interface Layout {
  s: number;
  topbarH: number;
  sidebarW: number;
  contentX: number;
  tableX: number;
  tableY: number;
  tableW: number;
  headerH: number;
  controls: Array<Control & { textW: number; textX: number }>;
}

function layout(vp: Viewport): Layout {
  const s = scaleOf(vp);
  const B = (v: number) => Math.round(v * s);
  const m = B(14); // margin between text/edges and the click zone
  const pad = B(12);
  const controls: Layout['controls'] = [];
  const add = (name: string, role: string, rect: Rect, textW: number) => {
    const hx = rect.x + pad + textW + m;
    const hit = { x: hx, y: rect.y + m, w: rect.x + rect.w - m - hx, h: rect.h - 2 * m };
    if (hit.w < B(16) || hit.h < B(12)) throw new Error(`sample UI: no click zone left in ${name}`);
    controls.push({ name, role, rect, fill: FILLS[name]!, hit, textW, textX: rect.x + pad });
  };
  const topbarH = B(64);
  const sidebarW = B(240);
  add('Search', 'textbox', { x: vp.w - B(340), y: B(10), w: B(300), h: B(44) }, Math.floor(B(300) * 0.5));
  LINKS.forEach((name, i) => {
    add(name, 'link', { x: B(12), y: topbarH + B(20) + i * B(52), w: B(216), h: B(42) }, textWidth(name));
  });
  const cx = sidebarW + B(40);
  const box = (name: string, x: number, y: number, w: number, h = 44) =>
    add(name, 'textbox', { x: cx + B(x), y: B(y), w: B(w), h: B(h) }, Math.floor(B(w) * 0.55));
  box('Vendor', 0, 160, 400);
  box('Invoice #', 440, 160, 300);
  box('Amount', 0, 250, 260);
  box('Date', 300, 250, 220);
  box('Bank account', 560, 250, 300);
  const tableX = cx;
  const tableY = B(330);
  const tableW = B(860);
  const headerH = B(36);
  ROWS.forEach((name, i) => {
    add(name, 'row', { x: tableX, y: tableY + headerH + i * B(46), w: tableW, h: B(44) }, B(500));
  });
  const btn = (name: string, x: number, y: number, w: number) =>
    add(name, 'button', { x: cx + B(x), y: B(y), w: B(w), h: B(50) }, textWidth(name));
  btn('Add line', 660, 570, 200);
  box('Notes', 0, 660, 860, 70);
  btn('Approve', 0, 770, 200);
  btn('Reject', 230, 770, 200);
  btn('Save draft', 460, 770, 200);
  return { s, topbarH, sidebarW, contentX: cx, tableX, tableY, tableW, headerH, controls };
}

/** Every clickable control at this viewport size (the same for every frame). */
export function controlsFor(viewport: {
  w: number;
  h: number;
}): Array<{ name: string; role: string; rect: Rect; fill: string; hit: Rect }> {
  return layout(viewport).controls.map(({ name, role, rect, fill, hit }) => ({ name, role, rect: { ...rect }, fill, hit: { ...hit } }));
}

export function controlNamed(viewport: Viewport, name: string): Control {
  const c = controlsFor(viewport).find((k) => k.name === name);
  if (!c) throw new Error(`sample UI: no control ${name}`);
  return c;
}

// 5×7 glyphs, one 5-bit row mask per line (bit 4 = leftmost pixel).
const FONT: Record<string, number[]> = {
  '0': [14, 17, 19, 21, 25, 17, 14],
  '1': [4, 12, 4, 4, 4, 4, 14],
  '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2],
  '5': [31, 16, 30, 1, 1, 17, 14],
  '6': [6, 8, 16, 30, 17, 17, 14],
  '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14],
  '9': [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 17, 31, 17, 17],
  B: [30, 17, 17, 30, 17, 17, 30],
  C: [14, 17, 16, 16, 16, 17, 14],
  D: [28, 18, 17, 17, 17, 18, 28],
  E: [31, 16, 16, 30, 16, 16, 31],
  F: [31, 16, 16, 30, 16, 16, 16],
  G: [14, 17, 16, 23, 17, 17, 15],
  H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14],
  J: [7, 2, 2, 2, 2, 18, 12],
  K: [17, 18, 20, 24, 20, 18, 17],
  L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17],
  N: [17, 17, 25, 21, 19, 17, 17],
  O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13],
  R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30],
  T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4],
  W: [17, 17, 17, 21, 21, 21, 10],
  X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 17, 10, 4, 4, 4],
  Z: [31, 1, 2, 4, 8, 16, 31],
  a: [0, 0, 14, 1, 15, 17, 15],
  b: [16, 16, 22, 25, 17, 17, 30],
  c: [0, 0, 14, 16, 16, 17, 14],
  d: [1, 1, 13, 19, 17, 17, 15],
  e: [0, 0, 14, 17, 31, 16, 14],
  f: [6, 9, 8, 28, 8, 8, 8],
  g: [0, 15, 17, 17, 15, 1, 14],
  h: [16, 16, 22, 25, 17, 17, 17],
  i: [4, 0, 12, 4, 4, 4, 14],
  j: [2, 0, 6, 2, 2, 18, 12],
  k: [16, 16, 18, 20, 24, 20, 18],
  l: [12, 4, 4, 4, 4, 4, 14],
  m: [0, 0, 26, 21, 21, 17, 17],
  n: [0, 0, 22, 25, 17, 17, 17],
  o: [0, 0, 14, 17, 17, 17, 14],
  p: [0, 0, 30, 17, 30, 16, 16],
  q: [0, 0, 13, 19, 15, 1, 1],
  r: [0, 0, 22, 25, 16, 16, 16],
  s: [0, 0, 14, 16, 14, 1, 30],
  t: [8, 8, 28, 8, 8, 9, 6],
  u: [0, 0, 17, 17, 17, 19, 13],
  v: [0, 0, 17, 17, 17, 10, 4],
  w: [0, 0, 17, 17, 21, 21, 10],
  x: [0, 0, 17, 10, 4, 10, 17],
  y: [0, 0, 17, 17, 15, 1, 14],
  z: [0, 0, 31, 2, 4, 8, 31],
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '.': [0, 0, 0, 0, 0, 12, 12],
  ',': [0, 0, 0, 0, 12, 4, 8],
  '#': [10, 10, 31, 10, 31, 10, 10],
  '-': [0, 0, 0, 31, 0, 0, 0],
  '/': [0, 1, 2, 4, 8, 16, 0],
  ':': [0, 12, 12, 0, 12, 12, 0],
  $: [4, 15, 20, 14, 5, 30, 4],
  '[': [14, 8, 8, 8, 8, 8, 14],
  ']': [14, 2, 2, 2, 2, 2, 14],
  _: [0, 0, 0, 0, 0, 0, 31],
  '@': [14, 17, 1, 13, 21, 21, 14],
  '(': [2, 4, 8, 8, 8, 4, 2],
  ')': [8, 4, 2, 2, 2, 4, 8],
  '&': [12, 18, 20, 8, 21, 18, 13],
  "'": [12, 4, 8, 0, 0, 0, 0],
  '+': [0, 4, 4, 31, 4, 4, 0],
  '%': [24, 25, 2, 4, 8, 19, 3],
  '?': [14, 17, 1, 2, 4, 0, 4],
  '!': [4, 4, 4, 4, 0, 0, 4],
  '=': [0, 0, 31, 0, 31, 0, 0],
  '<': [2, 4, 8, 16, 8, 4, 2],
  '>': [8, 4, 2, 1, 2, 4, 8],
  '*': [0, 4, 21, 14, 21, 4, 0],
};

/** SVG path data of `text` drawn in the pixel font with its top-left at (x, y). */
function textPath(text: string, x: number, y: number, px: number): string {
  let d = '';
  for (let i = 0; i < text.length; i++) {
    const rows = FONT[text[i]!] ?? FONT['?']!;
    const gx = x + i * (GLYPH_W + 1) * px;
    for (let r = 0; r < GLYPH_H; r++) {
      const bits = rows[r]!;
      let c = 0;
      while (c < GLYPH_W) {
        if (!(bits & (1 << (GLYPH_W - 1 - c)))) {
          c++;
          continue;
        }
        let run = 1;
        while (c + run < GLYPH_W && bits & (1 << (GLYPH_W - 1 - c - run))) run++;
        d += `M${gx + c * px} ${y + r * px}h${run * px}v${px}h${-run * px}z`;
        c += run;
      }
    }
  }
  return d;
}

function fitText(text: string, maxW: number, px = TEXT_PX): string {
  let t = text;
  while (t.length > 0 && textWidth(t, px) > maxW) t = t.slice(0, -1);
  return t;
}

/** The non-clickable attachment preview card right of the form. */
function attachmentCard(vp: Viewport): Rect {
  const L = layout(vp);
  const B = (v: number) => Math.round(v * L.s);
  const x = L.contentX + B(900);
  return { x, y: B(160), w: vp.w - x - B(30), h: B(720) };
}

/**
 * What a continuous capture shows besides the UI state (only frame-sampled exports draw it): the
 * mouse pointer, and a loading panel over the content area while a page loads.
 */
export interface FrameOverlay {
  /** Tip of the mouse pointer, in viewport pixels. */
  pointer?: { x: number; y: number };
  loading?: boolean;
}

/** The frame as SVG (no text elements: glyphs are paths). */
export function frameSvg(vp: Viewport, st: UiState, overlay: FrameOverlay = {}): string {
  const L = layout(vp);
  const B = (v: number) => Math.round(v * L.s);
  const out: string[] = [];
  const rect = (r: Rect, fill: string, extra = '') =>
    out.push(`<rect x="${r.x}" y="${r.y}" width="${r.w}" height="${r.h}" fill="${fill}"${extra}/>`);
  const text = (t: string, x: number, y: number, fill: string, px = TEXT_PX) => {
    const d = textPath(t, x, y, px);
    if (d) out.push(`<path d="${d}" fill="${fill}"/>`);
  };
  const textH = GLYPH_H * TEXT_PX;
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${vp.w}" height="${vp.h}" viewBox="0 0 ${vp.w} ${vp.h}" shape-rendering="crispEdges">`,
  );
  rect({ x: 0, y: 0, w: vp.w, h: vp.h }, '#ffffff');
  // Top bar: product, address, avatar.
  rect({ x: 0, y: 0, w: vp.w, h: L.topbarH }, '#1f2937');
  text('Nusomi Books', B(20), Math.round((L.topbarH - textH) / 2), '#ffffff');
  text(st.url, B(280), Math.round((L.topbarH - textH) / 2), '#cbd5e1');
  out.push(`<circle cx="${vp.w - B(20)}" cy="${Math.round(L.topbarH / 2)}" r="${B(12)}" fill="#64748b"/>`);
  // Sidebar.
  rect({ x: 0, y: L.topbarH, w: L.sidebarW, h: vp.h - L.topbarH }, '#eef0f3');
  // Page heading and labels.
  text(`Invoice ${st.invoiceId}`, L.contentX, B(84), '#111827', HEAD_PX);
  if (st.banner) {
    const bw = textWidth(st.banner) + B(32);
    rect({ x: L.contentX + B(860) - bw, y: B(80), w: bw, h: B(34) }, '#dcfce7');
    text(st.banner, L.contentX + B(860) - bw + B(16), B(80) + Math.round((B(34) - textH) / 2), '#166534');
  }
  // Attachment preview card (not clickable).
  const card = attachmentCard(vp);
  if (card.w > B(120)) {
    rect(card, '#f8fafc', ' stroke="#cbd5e1" stroke-width="1"');
    text('Attachment', card.x + B(14), card.y + B(14), '#475569');
    text(`${st.invoiceId}.pdf`, card.x + B(14), card.y + B(40), '#94a3b8');
  }
  // Table header.
  rect({ x: L.tableX, y: L.tableY, w: L.tableW, h: L.headerH }, '#e5e7eb');
  const hy = L.tableY + Math.round((L.headerH - textH) / 2);
  text('Description', L.tableX + B(12), hy, '#374151');
  text('Qty', L.tableX + B(300), hy, '#374151');
  text('Amount', L.tableX + B(380), hy, '#374151');
  text('Line items', L.tableX, L.tableY - B(26), '#374151');
  for (const c of L.controls) {
    if (c.role === 'textbox' && c.name !== 'Search') text(c.name, c.rect.x, c.rect.y - B(24), '#374151');
    rect(c.rect, c.fill);
    const ty = c.role === 'textbox' && c.rect.h > B(60) ? c.rect.y + B(12) : c.rect.y + Math.round((c.rect.h - textH) / 2);
    if (c.role === 'textbox') {
      const v = st.values[c.name];
      if (v) text(fitText(v, c.textW), c.textX, ty, '#111827');
      else text(fitText(c.name === 'Search' ? 'Search' : '', c.textW), c.textX, ty, '#6b7280');
    } else if (c.role === 'row') {
      const idx = st.lineOffset + ROWS.indexOf(c.name as (typeof ROWS)[number]);
      const line = st.lines[idx];
      if (line) {
        text(fitText(line.desc, B(280)), c.textX, ty, '#111827');
        text(String(line.qty), L.tableX + B(300), ty, '#111827');
        text(fitText(line.amount, B(110)), L.tableX + B(380), ty, '#111827');
      }
      if (st.selectedRow === c.name) rect({ x: c.rect.x, y: c.rect.y, w: B(5), h: c.rect.h }, '#2563eb');
    } else {
      text(c.name, c.textX, ty, '#111827');
      if (c.role === 'link' && st.activeLink === c.name) rect({ x: c.rect.x, y: c.rect.y, w: B(4), h: c.rect.h }, '#1f2937');
    }
    if (st.focused === c.name) {
      const g = B(4);
      out.push(
        `<rect x="${c.rect.x - g}" y="${c.rect.y - g}" width="${c.rect.w + 2 * g}" height="${c.rect.h + 2 * g}" fill="none" stroke="#2563eb" stroke-width="${B(3)}"/>`,
      );
    }
  }
  if (overlay.loading) {
    rect({ x: L.sidebarW, y: L.topbarH, w: vp.w - L.sidebarW, h: vp.h - L.topbarH }, '#e5e7eb');
    text('Loading...', L.contentX + B(360), B(440), '#374151', HEAD_PX);
  }
  if (overlay.pointer) {
    // An arrow pointer, about 12×19 px: black with a white edge, like a desktop cursor.
    const { x, y } = overlay.pointer;
    out.push(
      `<path d="M${x} ${y}l0 17l4 -4l3 7l3 -1l-3 -7l6 0z" fill="#000000" stroke="#ffffff" stroke-width="1" shape-rendering="auto"/>`,
    );
  }
  out.push('</svg>');
  return out.join('');
}

export interface RenderOptions {
  /** WebP quality (default 60). */
  quality?: number;
  /** When set, paste a noisy photo-like block seeded by this value into the attachment card
   *  (makes WebP frames ~150 KB, like real screenshots with photos; for benchmarks). */
  photoSeed?: number;
  photoSize?: { w: number; h: number };
  /** libwebp effort 0..6 (default 4); frame-sampled exports use a low one, they have many frames. */
  effort?: number;
  overlay?: FrameOverlay;
}

const NOISE = 255;
/** Deterministic pseudo-random noise block (RGB) that resembles a photo's texture. */
function photoBlock(w: number, h: number, seed: number): Buffer {
  const buf = Buffer.alloc(w * h * 3);
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const base = 90 + 80 * Math.sin((x + seed) / 23) * Math.cos(y / 17);
      buf[i] = Math.max(0, Math.min(255, base + rnd() * NOISE - NOISE / 2));
      buf[i + 1] = Math.max(0, Math.min(255, base * 0.8 + rnd() * NOISE - NOISE / 3));
      buf[i + 2] = Math.max(0, Math.min(255, 160 - base * 0.5 + rnd() * NOISE - NOISE / 2));
    }
  }
  return buf;
}

/** Render one frame as WebP bytes at the viewport size. */
export async function renderFrame(vp: Viewport, st: UiState, opts: RenderOptions = {}): Promise<Uint8Array> {
  let img = sharp(Buffer.from(frameSvg(vp, st, opts.overlay)));
  if (opts.photoSeed !== undefined) {
    const card = attachmentCard(vp);
    // Inside the attachment card, clear of every control.
    const size = opts.photoSize ?? { w: card.w - 20, h: card.h - Math.round(64 * scaleOf(vp)) };
    const input = photoBlock(size.w, size.h, opts.photoSeed);
    img = sharp(await img.png().toBuffer()).composite([
      {
        input,
        raw: { width: size.w, height: size.h, channels: 3 },
        left: card.x + 10,
        top: card.y + card.h - size.h - 10,
      },
    ]);
  }
  const b = await img.webp({ quality: opts.quality ?? 60, effort: opts.effort ?? 4 }).toBuffer();
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}
