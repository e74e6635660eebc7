/**
 * The report's browser script and style sheet, written to assets/ as they are. The script reads
 * `window.NUSOMI_REPORT` (assets/data.js) and builds the gallery and the player with DOM calls and
 * `textContent` only: no string from the data is ever parsed as HTML.
 */
export const REPORT_JS = String.raw`'use strict';
(function () {
  var R = window.NUSOMI_REPORT;
  var SVG = 'http://www.w3.org/2000/svg';
  var COLORS = { click: '#ff00ff', double_click: '#00c8ff', right_click: '#ff5050', other: '#ffd400' };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function badge(box, cls, label, value) {
    var b = el('span', 'badge ' + cls);
    b.appendChild(el('b', null, label));
    if (value === '[masked]') {
      var m = el('span', 'masked', '\u25cf\u25cf\u25cf\u25cf masked');
      m.title = '[masked]';
      b.appendChild(m);
    } else if (value !== null && value !== undefined) {
      b.appendChild(el('span', 'value', value));
    }
    box.appendChild(b);
  }
  /** A frame with its action drawn over it: coordinates are fractions of the frame. */
  function frameView(f, cls) {
    var wrap = el('div', 'frame ' + (cls || ''));
    var img = el('img');
    img.src = f.src;
    img.alt = 'frame';
    img.width = f.w;
    img.height = f.h;
    wrap.appendChild(img);
    var o = f.ov;
    var w = f.w;
    var h = f.h;
    var s = svgEl('svg', { viewBox: '0 0 ' + w + ' ' + h, preserveAspectRatio: 'none', class: 'overlay' });
    var r = Math.max(4, w / 80);
    if (o.box) {
      s.appendChild(svgEl('rect', { x: o.box[0] * w, y: o.box[1] * h, width: o.box[2] * w, height: o.box[3] * h, class: 'target-box' }));
    }
    var pts = o.path.length ? o.path : o.at && o.to ? [o.at, o.to] : [];
    if (pts.length > 1) {
      s.appendChild(svgEl('polyline', { points: pts.map(function (p) { return p[0] * w + ',' + p[1] * h; }).join(' '), class: 'drag-path' }));
      var end = pts[pts.length - 1];
      s.appendChild(svgEl('circle', { cx: end[0] * w, cy: end[1] * h, r: r * 0.6, class: 'drag-end' }));
    }
    if (o.at) {
      var color = COLORS[o.type] || COLORS.other;
      s.appendChild(svgEl('circle', { cx: o.at[0] * w, cy: o.at[1] * h, r: r + 2, fill: 'none', stroke: '#ffffff', 'stroke-width': 2 }));
      s.appendChild(svgEl('circle', { cx: o.at[0] * w, cy: o.at[1] * h, r: r, fill: color, class: 'point point-' + o.type }));
      if (o.type === 'double_click') s.appendChild(svgEl('circle', { cx: o.at[0] * w, cy: o.at[1] * h, r: r * 1.8, fill: 'none', stroke: color, 'stroke-width': 2 }));
    }
    wrap.appendChild(s);
    var badges = el('div', 'badges');
    if (o.text !== null) badge(badges, 'text', 'typed', o.text);
    if (o.key !== null) badge(badges, 'key', 'key', o.key);
    if (o.scroll) badge(badges, 'scroll', 'scroll', o.scroll[0] + ', ' + o.scroll[1]);
    if (badges.childNodes.length) wrap.appendChild(badges);
    return wrap;
  }

  // Gallery
  var filters = ['split', 'workflow', 'outcome', 'type'];
  var grid = document.getElementById('gallery-grid');
  var countEl = document.getElementById('gallery-count');
  function renderGallery() {
    var want = {};
    filters.forEach(function (k) { want[k] = document.getElementById('filter-' + k).value; });
    grid.textContent = '';
    var shown = 0;
    R.frames.forEach(function (f, i) {
      for (var k in want) if (want[k] !== '' && f[k] !== want[k]) return;
      shown++;
      var card = el('figure', 'card');
      card.appendChild(frameView(f));
      var cap = el('figcaption');
      var a = el('a', 'goto', R.sessions[f.session][0] + ' #' + f.step);
      a.href = '#player';
      a.setAttribute('data-session', f.session);
      a.setAttribute('data-step', f.step);
      cap.appendChild(a);
      cap.appendChild(el('span', 'meta', 't_ms ' + f.t_ms + ' \u00b7 ' + f.type + ' \u00b7 ' + f.workflow + ' \u00b7 ' + f.outcome));
      card.appendChild(cap);
      card.setAttribute('data-frame', i);
      grid.appendChild(card);
    });
    countEl.textContent = shown + ' of ' + R.frames.length + ' sampled frames';
  }
  filters.forEach(function (k) { document.getElementById('filter-' + k).addEventListener('change', renderGallery); });
  renderGallery();

  // Player
  var state = { s: 0, k: 0 };
  var stage = document.getElementById('player-frame');
  var tms = document.getElementById('player-tms');
  var act = document.getElementById('player-action');
  var prior = document.getElementById('player-prior');
  var title = document.getElementById('player-session');
  var pos = document.getElementById('player-pos');
  var timeline = document.getElementById('player-timeline');
  function session(i) {
    var s = R.sessions[i];
    return { id: s[0], split: s[1], workflow: s[2], outcome: s[3], steps: s[4], timeline: s[5] };
  }
  function show(si, k) {
    if (!R.sessions.length) return;
    si = Math.max(0, Math.min(R.sessions.length - 1, si));
    var s = session(si);
    k = Math.max(0, Math.min(s.steps - 1, k));
    var changed = si !== state.s || !timeline.childNodes.length;
    state = { s: si, k: k };
    title.textContent = s.id + ' \u00b7 ' + s.split + ' \u00b7 ' + s.workflow + ' \u00b7 ' + s.outcome;
    pos.textContent = 'step ' + (k + 1) + ' of ' + s.steps;
    stage.textContent = '';
    var step = s.timeline ? s.timeline[k] : null;
    if (step && step[3] >= 0) stage.appendChild(frameView(R.frames[step[3]], 'large'));
    else stage.appendChild(el('p', 'noframe', s.timeline ? 'this frame is not in the report\u2019s sample (--max-frames)' : 'this session\u2019s timeline is not in the report (too many steps)'));
    tms.textContent = step ? String(step[0]) : '';
    act.textContent = step ? step[1] : '';
    prior.textContent = step ? (step[2] || '(none)') : '';
    if (changed) {
      timeline.textContent = '';
      (s.timeline || []).forEach(function (st, j) {
        var li = el('li', st[3] >= 0 ? 'has-frame' : '', st[0] + ' ms \u00b7 ' + st[1]);
        li.setAttribute('data-step', j);
        li.addEventListener('click', function () { show(state.s, j); });
        timeline.appendChild(li);
      });
    }
    Array.prototype.forEach.call(timeline.childNodes, function (li, j) { li.className = (li.className.replace(/ ?current/, '')) + (j === k ? ' current' : ''); });
  }
  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
    var s = R.sessions.length ? session(state.s) : null;
    if (!s) return;
    if (e.key === 'ArrowRight') show(state.s, state.k + 1);
    else if (e.key === 'ArrowLeft') show(state.s, state.k - 1);
    else if (e.key === 'Home') show(state.s, 0);
    else if (e.key === 'End') show(state.s, s.steps - 1);
    else return;
    e.preventDefault();
  });
  document.getElementById('player-prev').addEventListener('click', function () { show(state.s, state.k - 1); });
  document.getElementById('player-next').addEventListener('click', function () { show(state.s, state.k + 1); });
  var byId = {};
  R.sessions.forEach(function (s, i) { if (!(s[0] in byId)) byId[s[0]] = i; });
  var jump = document.getElementById('player-jump');
  var note = document.getElementById('player-jump-note');
  function jumpTo() {
    var i = byId[jump.value.trim()];
    if (i === undefined) { note.textContent = 'no session with that id'; return; }
    note.textContent = '';
    show(i, 0);
  }
  jump.addEventListener('change', jumpTo);
  jump.addEventListener('keydown', function (e) { if (e.key === 'Enter') jumpTo(); });
  document.addEventListener('click', function (e) {
    var a = e.target && e.target.closest ? e.target.closest('a.goto') : null;
    if (!a) return;
    show(Number(a.getAttribute('data-session')), Number(a.getAttribute('data-step')));
  });
  var first = R.sessions.findIndex(function (s) { return s[6] >= 0; });
  show(first < 0 ? 0 : first, 0);
})();
`;

export const REPORT_CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
header, section { padding: 12px 24px; }
header { background: #1b1f24; color: #fff; }
header h1 { margin: 0 0 4px; font-size: 20px; }
nav a { color: #9cd; margin-right: 14px; }
h2 { border-bottom: 1px solid #ccd; padding-bottom: 4px; }
.grid { display: flex; flex-wrap: wrap; gap: 18px; }
.panel { background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 8px 12px; }
table { border-collapse: collapse; }
td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.chart text { font-size: 11px; fill: #333; }
.chart .bar { fill: #4a7bd0; }
.frame { position: relative; display: inline-block; line-height: 0; }
.frame img { display: block; width: 100%; height: auto; }
.frame .overlay, .heat .heat-cells { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
.target-box { fill: none; stroke: #ffd400; stroke-width: 2; }
.drag-path { fill: none; stroke: #ff8c00; stroke-width: 3; }
.drag-end { fill: #ff8c00; }
.badges { position: absolute; left: 4px; bottom: 4px; right: 4px; line-height: 1.3; }
.badge { display: inline-block; background: rgba(20, 20, 30, 0.82); color: #fff; border-radius: 4px; padding: 1px 6px; margin: 2px; font-size: 12px; max-width: 95%; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.badge b { font-weight: 600; margin-right: 4px; color: #9cf; }
.masked { background: #555; color: #eee; border-radius: 3px; padding: 0 4px; }
.heat { position: relative; display: inline-block; width: 480px; line-height: 0; background: #ccd; }
.heat img { display: block; width: 100%; }
.heat .heat-cells rect { fill: #ff2a00; }
.heat .blank { width: 100%; aspect-ratio: 16 / 10; }
#gallery-grid { display: flex; flex-wrap: wrap; gap: 12px; }
.card { margin: 0; width: 320px; background: #fff; border: 1px solid #dde; border-radius: 6px; padding: 6px; }
.card .frame { width: 100%; }
.card figcaption { font-size: 12px; overflow-wrap: anywhere; }
.card .meta { display: block; color: #555; }
#player-frame .frame.large { width: 960px; max-width: 100%; }
.noframe { width: 960px; max-width: 100%; padding: 40px 0; text-align: center; background: #e3e5ea; }
#player-timeline { max-height: 260px; overflow: auto; font-size: 12px; padding-left: 20px; }
#player-timeline li { cursor: pointer; }
#player-timeline li.has-frame { font-weight: 600; }
#player-timeline li.current { background: #ffe98a; }
.kv b { display: inline-block; min-width: 90px; }
.finding-error { color: #b00020; }
.finding-warning { color: #9a6700; }
.hint { color: #555; font-size: 12px; }
`;
