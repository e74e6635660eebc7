/**
 * `report` in the real browser (Debian chromium through playwright-core), loaded from file://:
 * no console error and no request outside the report folder; the overview equals `inspect --json`;
 * → in the player advances t_ms; a click's marker sits on the action's pixel; hostile text from the
 * export (`<script>` in a session id, a workflow and typed text) stays text; `[masked]` shows masked.
 */
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashTree } from './helpers/bytes.ts';
import { browserMissing, launchChromium } from './helpers/browser.ts';
import { cliOk } from './helpers/cli.ts';
import { SAMPLE_EXPORT, sampleConversion } from './helpers/sample-cache.ts';
import { repoRoot } from './helpers/python.ts';

/** The README's screenshot of the report (re-made with UPDATE_SCREENSHOT=1). */
const SCREENSHOT = path.join(repoRoot, 'docs', 'report.png');
const SCREENSHOT_WIDTH = 1000;

const HOSTILE_SESSION = '</script><script>window.__pwned = 1</script>';
const HOSTILE_WORKFLOW = 'inv<script>window.__pwned = 2</script>';
const HOSTILE_TEXT = '</script><script>window.__pwned = 3</script>';

interface Row {
  session_id: string;
  t_ms: number;
  frame: { viewport: { w: number; h: number } };
  action: { type: string; x?: number; y?: number; text?: string; value?: string };
  context: { workflow: string };
}

const missing = browserMissing();
let tmp: string;
let exportDir: string;
let out: string;
let browser: Browser;
let rows: Row[];

/** The sample export with hostile text: the first session's id, its workflow, one typed text; one text masked. */
async function hostileExport(dest: string): Promise<Row[]> {
  await cp(SAMPLE_EXPORT, dest, { recursive: true });
  const dataDir = path.join(dest, 'data');
  const all: Row[] = [];
  const first = (await readdir(dataDir)).sort();
  let firstSession: string | undefined;
  let typed = 0;
  for (const name of first) {
    const lines = (await readFile(path.join(dataDir, name), 'utf8')).split('\n').filter(Boolean);
    const changed = lines.map((l) => {
      const r = JSON.parse(l) as Row;
      firstSession ??= r.session_id;
      // `<` sorts before `s`: the renamed session stays first, so rows stay ordered.
      if (r.session_id === firstSession) {
        r.session_id = HOSTILE_SESSION;
        r.context.workflow = HOSTILE_WORKFLOW;
      }
      if (r.action.type === 'input_text') {
        typed++;
        if (typed === 1) r.action.text = HOSTILE_TEXT;
        if (typed === 2) r.action.text = '[masked]';
      }
      all.push(r);
      return JSON.stringify(r);
    });
    await writeFile(path.join(dataDir, name), changed.join('\n') + '\n');
  }
  return all;
}

async function openReport(page: Page, dir: string): Promise<{ errors: string[]; outside: string[] }> {
  const errors: string[] = [];
  const outside: string[] = [];
  const base = pathToFileURL(dir).href + '/';
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    if (!r.url().startsWith(base)) outside.push(r.url());
  });
  await page.goto(base + 'index.html', { waitUntil: 'load' });
  return { errors, outside };
}

// Not silent: browserMissing() printed the reason, and with CI=true it threw instead (test/helpers/browser.ts).
describe.skipIf(missing !== null)('report in chromium', () => {
  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'report-browser-'));
    exportDir = path.join(tmp, 'export');
    rows = await hostileExport(exportDir);
    out = path.join(tmp, 'report');
    await cliOk(['report', exportDir, '--out', out]);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('loads from file:// with no console error, no request outside its folder, and hostile text stays text', async () => {
    const page = await browser.newPage();
    const { errors, outside } = await openReport(page, out);
    // Let lazy images and the scripts settle.
    await page.locator('#gallery-grid figure').first().waitFor();
    await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
    await page.waitForLoadState('networkidle');
    expect(errors).toEqual([]);
    expect(outside).toEqual([]);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    // The hostile strings are shown as the text they are.
    expect(await page.locator('#player-session').textContent()).toContain(HOSTILE_SESSION);
    expect(await page.locator('[data-count="workflows"][data-key="' + HOSTILE_WORKFLOW.replace(/"/g, '\\"') + '"]').count()).toBe(1);
    expect(await page.locator('.badge.text .value', { hasText: HOSTILE_TEXT }).count()).toBe(1);
    expect(await page.locator('script').count()).toBe(2);
    // `[masked]` is drawn as a masked chip, not as the text.
    const masked = rows.filter((r) => (r.action.text ?? r.action.value) === '[masked]').length;
    expect(masked).toBeGreaterThan(1);
    expect(await page.locator('.badge.text .masked').count()).toBe(masked);
    expect(await page.locator('.badge.text .value', { hasText: '[masked]' }).count()).toBe(0);
    await page.close();
  });

  it('shows the same counts as inspect --json', async () => {
    const inspected = JSON.parse((await cliOk(['inspect', exportDir, '--json'])).stdout) as Record<string, unknown>;
    const page = await browser.newPage();
    await openReport(page, out);
    // The page's own DOM (no DOM types in this project's TypeScript: the function is page code).
    const shown = (await page.evaluate(`(() => {
      const stats = {};
      for (const el of document.querySelectorAll('[data-stat]')) stats[el.getAttribute('data-stat')] = Number(el.textContent);
      const counts = {};
      for (const el of document.querySelectorAll('td[data-count]')) {
        const k = el.getAttribute('data-count');
        (counts[k] ??= {})[el.getAttribute('data-key')] = Number(el.textContent);
      }
      return { stats, counts };
    })()`)) as { stats: Record<string, number>; counts: Record<string, Record<string, number>> };
    for (const k of ['rows', 'sessions', 'frames', 'actions', 'bad_rows']) expect(shown.stats[k], k).toBe(inspected[k]);
    for (const k of ['workflows', 'outcomes', 'actor_kinds', 'action_types', 'viewports']) expect(shown.counts[k], k).toEqual(inspected[k]);
    await page.close();
  });

  it('player: → advances t_ms, ← and Home/End move, a session is found by id, the prior action is shown', async () => {
    const page = await browser.newPage();
    await openReport(page, out);
    const session = rows[rows.length - 1]!.session_id;
    const times = rows.filter((r) => r.session_id === session).map((r) => r.t_ms);
    await page.fill('#player-jump', session);
    await page.press('#player-jump', 'Enter');
    await page.locator('body').click({ position: { x: 2, y: 2 } });
    const tms = async () => Number(await page.locator('#player-tms').textContent());
    expect(await tms()).toBe(times[0]);
    expect(await page.locator('#player-prior').textContent()).toBe('(none)');
    await page.keyboard.press('ArrowRight');
    expect(await tms()).toBe(times[1]);
    expect(await page.locator('#player-prior').textContent()).not.toBe('(none)');
    await page.keyboard.press('End');
    expect(await tms()).toBe(times[times.length - 1]);
    await page.keyboard.press('ArrowLeft');
    expect(await tms()).toBe(times[times.length - 2]);
    await page.keyboard.press('Home');
    expect(await tms()).toBe(times[0]);
    await page.close();
  });

  it("a click's marker is drawn on the action's coordinates scaled to the displayed frame (within 2 px)", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await openReport(page, out);
    const click = rows.find((r) => r.action.type === 'click' && r.session_id !== HOSTILE_SESSION)!;
    const session = rows.filter((r) => r.session_id === click.session_id);
    await page.fill('#player-jump', click.session_id);
    await page.press('#player-jump', 'Enter');
    await page.locator('body').click({ position: { x: 2, y: 2 } });
    for (let i = 0; i < session.indexOf(click); i++) await page.keyboard.press('ArrowRight');
    expect(Number(await page.locator('#player-tms').textContent())).toBe(click.t_ms);
    const img = page.locator('#player-frame img');
    await img.scrollIntoViewIfNeeded();
    await page.waitForFunction(`document.querySelector('#player-frame img')?.complete === true`);
    const box = (await img.boundingBox())!;
    const png = await page.screenshot({ clip: box });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // The click marker is pure magenta (#ff00ff); the frames have none.
    let sx = 0;
    let sy = 0;
    let n = 0;
    for (let y = 0; y < info.height; y++) {
      for (let x = 0; x < info.width; x++) {
        const o = (y * info.width + x) * info.channels;
        if (data[o]! > 235 && data[o + 1]! < 25 && data[o + 2]! > 235) {
          sx += x + 0.5;
          sy += y + 0.5;
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(20);
    const vp = click.frame.viewport;
    const wantX = (click.action.x! / vp.w) * info.width;
    const wantY = (click.action.y! / vp.h) * info.height;
    expect(Math.abs(sx / n - wantX)).toBeLessThanOrEqual(2);
    expect(Math.abs(sy / n - wantY)).toBeLessThanOrEqual(2);
    await page.close();
  });

  it('the gallery filters by action type, split, workflow and outcome', async () => {
    const page = await browser.newPage();
    await openReport(page, out);
    const all = await page.locator('#gallery-grid figure').count();
    expect(all).toBe(rows.length);
    await page.selectOption('#filter-type', 'drag');
    expect(await page.locator('#gallery-grid figure').count()).toBe(rows.filter((r) => r.action.type === 'drag').length);
    expect(await page.locator('#gallery-grid .drag-path').count()).toBe(rows.filter((r) => r.action.type === 'drag').length);
    await page.selectOption('#filter-type', '');
    await page.selectOption('#filter-workflow', HOSTILE_WORKFLOW);
    expect(await page.locator('#gallery-grid figure').count()).toBe(rows.filter((r) => r.context.workflow === HOSTILE_WORKFLOW).length);
    await page.close();
  });

  it('no file references an absolute path or another host; the same export gives the same bytes', async () => {
    const again = path.join(tmp, 'report-again');
    await cliOk(['report', exportDir, '--out', again]);
    expect(await hashTree(again)).toEqual(await hashTree(out));
    const files = await hashTree(out);
    const forbidden = [tmp, os.tmpdir(), repoRoot, os.homedir(), 'file:'];
    for (const f of Object.keys(files).filter((f) => /\.(html|js|css)$/.test(f))) {
      const text = await readFile(path.join(out, f), 'utf8');
      for (const s of forbidden) expect(text.includes(s), `${f} names ${s}`).toBe(false);
    }
    // Every reference in the page is a relative path inside the folder, and the page allows nothing else.
    const html = await readFile(path.join(out, 'index.html'), 'utf8');
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(3);
    for (const r of refs) expect(r, r).toMatch(/^(#[a-z]+|assets\/[\w./-]+)$/);
    expect(html).toContain(`default-src 'none'`);
    const css = await readFile(path.join(out, 'assets/report.css'), 'utf8');
    expect(css).not.toMatch(/url\(|@import/);
    const js = await readFile(path.join(out, 'assets/report.js'), 'utf8');
    // The SVG namespace is a name, not a request.
    expect(js.replaceAll("'http://www.w3.org/2000/svg'", '')).not.toMatch(/https?:|fetch\(|XMLHttpRequest|innerHTML|import\(/);
    const data = JSON.parse(
      (await readFile(path.join(out, 'assets/data.js'), 'utf8')).replace(/^window\.NUSOMI_REPORT = /, '').replace(/;\n$/, ''),
    );
    for (const f of data.frames) expect(f.src).toMatch(/^assets\/frames\/\d{6}\.webp$/);
  });

  it("the README's screenshot is the sample dataset's report in this browser (UPDATE_SCREENSHOT=1 re-makes it)", async () => {
    const dataset = await sampleConversion(['--formats', 'parquet', '--split', 'train=0.8,validation=0.1,test=0.1', '--seed', '0']);
    const dir = path.join(tmp, 'report-readme');
    await cliOk(['report', dataset, '--out', dir, '--no-validate', '-q']);
    const page = await browser.newPage({ viewport: { width: 1280, height: 1300 } });
    const { errors } = await openReport(page, dir);
    await page.locator('#gallery').scrollIntoViewIfNeeded();
    await page.evaluate(`document.querySelector('#heatmaps').scrollIntoView()`);
    await page.waitForLoadState('networkidle');
    const shot = await page.screenshot();
    await page.close();
    expect(errors).toEqual([]);
    // Small enough to commit: scaled down, 256-colour PNG.
    const png = await sharp(shot).resize({ width: SCREENSHOT_WIDTH }).png({ palette: true, compressionLevel: 9 }).toBuffer();
    const meta = await sharp(png).metadata();
    if (process.env.UPDATE_SCREENSHOT === '1') {
      await mkdir(path.dirname(SCREENSHOT), { recursive: true });
      await writeFile(SCREENSHOT, png);
    }
    const committed = await sharp(await readFile(SCREENSHOT)).metadata();
    expect([committed.format, committed.width, committed.height]).toEqual(['png', meta.width, meta.height]);
    expect((await readFile(SCREENSHOT)).byteLength).toBeLessThan(400_000);
    expect(await readFile(path.join(repoRoot, 'README.md'), 'utf8')).toContain('](docs/report.png)');
  });
});
