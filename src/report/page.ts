/**
 * The report's files: index.html (the overview, rendered here with every text escaped), the
 * assets the browser script needs (assets/data.js with the gallery and player data as JSON), and
 * the thumbnails. Every reference is a relative path under the report folder.
 */
import type { CheckResult, ValidationReport } from '../validate/report.ts';
import { barChart, heatmapSvg, histogram, histogramChart } from './charts.ts';
import { HEAT_COLS, HEAT_ROWS, findingKey } from './collect.ts';
import type { Collected } from './collect.ts';
import { escapeHtml as e, scriptJson } from './html-escape.ts';
import type { SkipSummary } from './input.ts';
import type { LabelVocabJson } from '../hf/labels.ts';

export interface PageInput {
  kind: 'export' | 'dataset';
  title: string;
  c: Collected;
  labels: LabelVocabJson;
  skipped: SkipSummary;
  validation: ValidationReport | null;
  maxFrames: number;
}

export interface ReportFile {
  path: string;
  bytes: Uint8Array | string;
}

const framePath = (i: number) => `assets/frames/${String(i).padStart(6, '0')}.webp`;
const heatPath = (i: number) => `assets/heat/${String(i).padStart(3, '0')}.webp`;

function countTable(name: string, counts: Record<string, number>): string {
  const rows = Object.entries(counts)
    .map(([k, n]) => `<tr><td>${e(k)}</td><td class="n" data-count="${e(name)}" data-key="${e(k)}">${n}</td></tr>`)
    .join('');
  return `<table class="counts" data-counts="${e(name)}">${rows}</table>`;
}

function panel(title: string, body: string): string {
  return `<div class="panel"><h3>${e(title)}</h3>${body}</div>`;
}

function findingRows(checks: CheckResult[], linked: Collected['linked']): string {
  if (!checks.length) return '<p>validate found nothing.</p>';
  return checks
    .map((c) => {
      const ex = c.examples
        .map((x) => {
          const at = linked.get(findingKey(x));
          const where = `${x.file}${x.row !== undefined ? ` row ${x.row}` : ''}${x.member ? ` member ${x.member}` : ''}`;
          const link = at ? ` <a class="goto" href="#player" data-session="${at[0]}" data-step="${at[1]}">open in player</a>` : '';
          return `<li><code>${e(where)}</code>: ${e(x.message)}${link}</li>`;
        })
        .join('');
      return `<div class="finding finding-${e(c.severity)}" data-check="${e(c.id)}"><b>${e(c.id)}</b> (${e(c.severity)}, ${c.count}) <span class="hint">${e(c.hint)}</span><ul>${ex}</ul></div>`;
    })
    .join('');
}

function options(counts: Record<string, unknown>): string {
  return Object.keys(counts)
    .map((k) => `<option value="${e(k)}">${e(k)}</option>`)
    .join('');
}

export function renderReport(p: PageInput): ReportFile[] {
  const { c } = p;
  const files: ReportFile[] = [];
  // The player's data: sessions with their timelines; a step's frame is its index in `frames`.
  const frameAt = new Map<string, number>();
  for (const [i, f] of c.sample.entries()) frameAt.set(`${f.session}:${f.step}`, i);
  const frames = c.sample.map((f, i) => {
    files.push({ path: framePath(i), bytes: f.thumb.bytes });
    return {
      src: framePath(i),
      w: f.thumb.w,
      h: f.thumb.h,
      session: f.session,
      step: f.step,
      t_ms: f.t_ms,
      split: f.split,
      workflow: f.workflow,
      outcome: f.outcome,
      type: f.type,
      ov: f.overlay,
    };
  });
  // `window.NUSOMI_REPORT = {"sessions":[...],"frames":[...]};`, made session by session: the whole
  // JSON as one string (2 bytes a character once an arrow is in it), its escaped copy and its UTF-8
  // copy were ~50 MB at once for 80,000 rows, the report's peak memory.
  const parts: Buffer[] = [Buffer.from('window.NUSOMI_REPORT = {"sessions":[')];
  for (const [si, s] of c.sessionList.entries()) {
    const session = [
      s.id,
      s.split,
      s.workflow,
      s.outcome,
      s.steps,
      s.timeline ? s.timeline.map((t, k) => [t.t_ms, t.action, t.prior, frameAt.get(`${si}:${k}`) ?? -1]) : null,
      s.firstFrame,
    ];
    parts.push(Buffer.from(si ? `,${scriptJson(session)}` : scriptJson(session)));
  }
  parts.push(Buffer.from(`],"frames":${scriptJson(frames)}};\n`));
  files.push({ path: 'assets/data.js', bytes: Buffer.concat(parts) });

  const heat = c.heat
    .map((h, i) => {
      let under = '<div class="blank"></div>';
      let w = 480;
      let hh = 300;
      if (h.typical) {
        files.push({ path: heatPath(i), bytes: h.typical.bytes });
        w = h.typical.w;
        hh = h.typical.h;
        under = `<img src="${heatPath(i)}" alt="a typical ${e(h.viewport)} frame" width="${w}" height="${hh}">`;
      }
      return panel(
        `${h.viewport} · ${h.clicks} clicks`,
        `<div class="heat" data-viewport="${e(h.viewport)}">${under}${heatmapSvg(h.cells, HEAT_COLS, HEAT_ROWS, w, hh)}</div>`,
      );
    })
    .join('');

  const lengths = histogram(c.lengths);
  const durations = histogram(
    c.durations.map((ms) => Math.round(ms / 1000)),
    20,
  );
  const splitRows = Object.entries(c.splits)
    .map(
      ([k, v]) =>
        `<tr><td>${e(k)}</td><td class="n" data-count="splits" data-key="${e(k)}">${v.rows}</td><td class="n" data-count="split_sessions" data-key="${e(k)}">${v.sessions}</td></tr>`,
    )
    .join('');
  const vocab = (name: string, list: string[]) =>
    `<table data-vocab="${e(name)}"><tr><th>id</th><th>name</th></tr>${list.map((n, i) => `<tr><td class="n">${i}</td><td>${e(n)}</td></tr>`).join('')}</table>`;
  const reasons = Object.entries(p.skipped.reasons)
    .map(([k, n]) => `<tr><td>${e(k)}</td><td class="n">${n}</td></tr>`)
    .join('');
  const skipped =
    `<p><span data-stat="bad_rows">${p.skipped.count}</span> rows ${p.kind === 'export' ? 'not readable' : 'skipped by convert'}</p>` +
    (reasons ? `<table>${reasons}</table>` : '') +
    (p.skipped.lines.length ? `<ul>${p.skipped.lines.map((l) => `<li><code>${e(l)}</code></li>`).join('')}</ul>` : '') +
    (c.frameProblems.length
      ? `<p>sampled frames that could not be read:</p><ul>${c.frameProblems.map((l) => `<li>${e(l)}</li>`).join('')}</ul>`
      : '');
  const validation = p.validation
    ? `<section id="validate"><h2>validate: ${p.validation.clean ? 'clean' : `${p.validation.errors} errors, ${p.validation.warnings} warnings`}</h2>${findingRows(p.validation.checks, c.linked)}</section>`
    : '';
  const stat = (k: string, v: number) => `<tr><td>${e(k)}</td><td class="n" data-stat="${e(k)}">${v}</td></tr>`;

  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'">
<title>${e(p.title)} · nusomi-hf report</title>
<link rel="stylesheet" href="assets/report.css">
</head>
<body>
<header>
<h1 id="title">${e(p.title)}</h1>
<div>${e(p.kind)} · ${c.rows} rows · ${c.sessions} sessions · ${c.sample.length} frames sampled (--max-frames ${p.maxFrames})</div>
<nav><a href="#overview">overview</a><a href="#heatmaps">click heatmaps</a><a href="#gallery">gallery</a><a href="#player">player</a>${p.validation ? '<a href="#validate">validate</a>' : ''}</nav>
</header>
<section id="overview">
<h2>Overview</h2>
<div class="grid">
${panel('counts', `<table>${stat('rows', c.rows)}${stat('sessions', c.sessions)}${stat('frames', c.frames)}${stat('actions', c.actions)}</table>`)}
${panel('splits', `<table><tr><th>split</th><th>rows</th><th>sessions</th></tr>${splitRows}</table>`)}
${panel('workflow', countTable('workflows', c.workflows) + barChart(c.workflows, 'rows per workflow'))}
${panel('outcome', countTable('outcomes', c.outcomes) + barChart(c.outcomes, 'rows per outcome'))}
${panel('actor kind', countTable('actor_kinds', c.actor_kinds) + barChart(c.actor_kinds, 'rows per actor kind'))}
${panel('action type', countTable('action_types', c.action_types) + barChart(c.action_types, 'rows per action type'))}
${panel('viewport', countTable('viewports', c.viewports) + barChart(c.viewports, 'rows per viewport'))}
${panel('session length (steps)', histogramChart(lengths, 'sessions by length', 'steps'))}
${panel('session duration (s)', histogramChart(durations, 'sessions by duration', 's'))}
${panel(p.kind === 'export' ? 'labels (ids convert assigns)' : 'labels', vocab('action_type', p.labels.action_type) + vocab('outcome', p.labels.outcome))}
${panel('bad and skipped rows', skipped)}
</div>
</section>
${validation}
<section id="heatmaps">
<h2>Click heatmaps per viewport</h2>
<p class="hint">clicks, double and right clicks at their normalised position, over the first frame of a typical session of that viewport${Object.keys(c.viewports).length > c.heat.length ? ` (the first ${c.heat.length} of ${Object.keys(c.viewports).length} viewports read)` : ''}</p>
<div class="grid">${heat}</div>
</section>
<section id="gallery">
<h2>Frame gallery</h2>
<p>
<label>split <select id="filter-split"><option value="">all</option>${options(c.splits)}</select></label>
<label>workflow <select id="filter-workflow"><option value="">all</option>${options(c.workflows)}</select></label>
<label>outcome <select id="filter-outcome"><option value="">all</option>${options(c.outcomes)}</select></label>
<label>action type <select id="filter-type"><option value="">all</option>${options(c.action_types)}</select></label>
<span id="gallery-count"></span>
</p>
<p class="hint">magenta: click · cyan: double-click · red: right-click · orange: drag path · yellow: target box</p>
<div id="gallery-grid"></div>
</section>
<section id="player">
<h2>Session player</h2>
<p><label>session id <input id="player-jump" list="session-ids" size="40" autocomplete="off"></label> <span id="player-jump-note"></span>
<button id="player-prev" type="button">← prev</button> <button id="player-next" type="button">next →</button>
<span class="hint">keys: ← → Home End</span></p>
<datalist id="session-ids">${c.sessionList.map((s) => `<option value="${e(s.id)}">`).join('')}</datalist>
<p><b id="player-session"></b> · <span id="player-pos"></span></p>
<div class="kv"><div><b>t_ms</b> <span id="player-tms"></span></div><div><b>action</b> <span id="player-action"></span></div><div><b>prior action</b> <span id="player-prior"></span></div></div>
<div id="player-frame"></div>
<ol id="player-timeline" start="0"></ol>
</section>
<script src="assets/data.js"></script>
<script src="assets/report.js"></script>
</body>
</html>
`;
  files.push({ path: 'index.html', bytes: html });
  return files;
}
