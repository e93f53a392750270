/**
 * A job as one self-contained HTML page: summary (counts, time by program, slowest thunks, parallelism over
 * time), a timeline (a row per slot, a bar per thunk run, coloured by kind of step (program and output), failures outlined in red, the
 * critical path outlined in black) and search. Hand-written SVG: a Gantt chart is a few rectangles per run,
 * and the page stays small with nothing to fetch (charting libraries weigh 0.3-1 MB for the same bars).
 * Everything from the trace is data, never markup: it is embedded as JSON and set with textContent.
 */
import { criticalPath, summarize, type JobData } from './job-history.js';

export function traceHtml(job: JobData): string {
  const critical = criticalPath(job);
  const summary = summarize(job, critical);
  const lanes = [...new Set(job.spans.map((s) => s.lane))].sort((a, b) => {
    const [ha, sa] = splitLane(a);
    const [hb, sb] = splitLane(b);
    return ha === hb ? sa - sb : ha < hb ? -1 : 1;
  });
  const index = new Map(job.spans.map((s, i) => [s, i]));
  const data = {
    job: {
      id: job.header.id,
      started: new Date(job.header.start).toISOString(),
      command: ['gg', ...job.header.argv].join(' '),
      cwd: job.header.cwd,
      host: job.header.host,
      engine: job.header.engine,
      jobs: job.header.jobs,
      status: job.end?.status ?? 'unfinished',
      truncated: job.truncated,
    },
    lanes,
    spans: job.spans.map((s) => ({
      n: s.name,
      o: s.orig ?? '',
      p: s.program,
      k: s.kind,
      a: s.argv0,
      l: lanes.indexOf(s.lane),
      s: s.start,
      e: s.end ?? job.durationMs,
      st: s.status,
      d: s.duplicated === true,
      c: s.cpuMs ?? null,
      bi: s.bytesIn,
      bo: s.bytesOut,
      er: s.error ? `${s.error.code}: ${s.error.message}` : '',
    })),
    critical: critical.map((s) => index.get(s)),
    summary: { ...summary, slowest: summary.slowest.map((s) => index.get(s)) },
  };
  // `<` escaped so no string in the data can close the script element.
  const json = JSON.stringify(data)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>gg job ${escapeHtml(job.header.id)}</title>
<style>${CSS}</style></head>
<body>
<header><h1>gg job <span id="job-id"></span></h1><div id="job-meta"></div></header>
<section id="summary"><div id="cards"></div>
<div class="tables"><div><h2>Time by program</h2><table id="by-program"><thead><tr><th>program</th><th>runs</th><th>wall</th><th>CPU</th></tr></thead><tbody></tbody></table></div>
<div><h2>Slowest thunks</h2><table id="slowest"><thead><tr><th>program</th><th>wall</th><th>thunk</th></tr></thead><tbody></tbody></table></div>
<div><h2>Parallelism over time</h2><svg id="parallelism" width="360" height="120" role="img" aria-label="running thunks over time"></svg></div></div></section>
<section id="timeline-section"><h2>Timeline</h2>
<div class="controls"><input id="search" type="search" placeholder="search: program, thunk name, error\u2026" aria-label="search thunks"> <span id="matches"></span>
<label><input id="crit-only" type="checkbox"> highlight the critical path</label></div>
<div id="legend"></div>
<div id="timeline-box"><svg id="timeline" role="img" aria-label="timeline of thunk runs"></svg></div>
<div id="details">Point at a bar for its details.</div>
<h2>Matching thunks</h2><table id="found"><thead><tr><th>step</th><th>status</th><th>start</th><th>wall</th><th>thunk</th></tr></thead><tbody></tbody></table>
</section>
<script type="application/json" id="gg-data">${json}</script>
<script>${SCRIPT}</script>
</body></html>
`;
}

function splitLane(lane: string): [string, number] {
  const i = lane.lastIndexOf('/');
  return [lane.slice(0, i), Number(lane.slice(i + 1))];
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:0 16px 32px;color:#1d1d1f;background:#fff}
h1{font-size:20px;margin:12px 0 2px}h2{font-size:15px;margin:16px 0 6px}
#job-meta{color:#555;font-size:13px}
#cards{display:flex;flex-wrap:wrap;gap:8px;margin-top:10px}
.card{border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:90px}.card b{display:block;font-size:18px}
.card span{color:#666;font-size:12px}
.tables{display:flex;flex-wrap:wrap;gap:24px}
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.controls{display:flex;gap:12px;align-items:center;margin-bottom:6px}#search{width:320px;padding:4px}
#legend{display:flex;flex-wrap:wrap;gap:10px;font-size:12px;margin-bottom:6px}
#legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px;border-radius:2px}
#timeline-box{overflow-x:auto;border:1px solid #ddd;border-radius:6px}
#timeline text{font-size:11px;fill:#333}
.bar{stroke:#fff;stroke-width:.5}.bar.failed{stroke:#d00;stroke-width:2}.bar.cancelled,.bar.unfinished{stroke:#888;stroke-dasharray:3 2;stroke-width:1.5}
.bar.crit{stroke:#000;stroke-width:2}.dim{opacity:.12}.bar:hover{opacity:.8}
#details{font:12px monospace;white-space:pre-wrap;margin:8px 0;min-height:3em;color:#333}
.mono{font-family:monospace}
`;

// Runs in the page: builds everything with DOM calls from the embedded data (no innerHTML with data).
const SCRIPT = String.raw`
'use strict';
(function () {
  const D = JSON.parse(document.getElementById('gg-data').textContent);
  const NS = 'http://www.w3.org/2000/svg';
  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, text) => { const e = document.createElement(tag); for (const k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; };
  const sv = (tag, attrs, text) => { const e = document.createElementNS(NS, tag); for (const k in attrs || {}) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; return e; };
  const ms = (v) => v >= 60000 ? (v / 60000).toFixed(1) + ' min' : v >= 1000 ? (v / 1000).toFixed(2) + ' s' : Math.round(v) + ' ms';
  const bytes = (n) => { const u = ['B', 'KiB', 'MiB', 'GiB']; let i = 0; while (n >= 1024 && i < 3) { n /= 1024; i++; } return (i ? n.toFixed(1) : n) + ' ' + u[i]; };
  const short = (n) => n.slice(0, 13) + '\u2026';
  const S = D.summary;

  $('job-id').textContent = D.job.id;
  $('job-meta').textContent = D.job.command + '  \u00b7  ' + D.job.status + (D.job.truncated ? ' (trace truncated)' : '') + '  \u00b7  started ' + D.job.started + ' on ' + D.job.host + '  \u00b7  engine ' + D.job.engine + ', ' + D.job.jobs + ' slots  \u00b7  ' + D.job.cwd;

  const cards = [['wall time', ms(S.wallMs)], ['executed', S.executed], ['cached', S.cached], ['failed', S.failed]];
  if (S.duplicated) cards.push(['duplicated (stragglers)', S.duplicated]);
  if (S.cancelled + S.unfinished) cards.push(['stopped/unfinished', S.cancelled + S.unfinished]);
  cards.push(['busy time', ms(S.busyMs)], ['critical path', ms(S.criticalMs)], ['avg parallelism', S.wallMs ? (S.busyMs / S.wallMs).toFixed(2) : '0']);
  if (S.cpuMs != null) cards.push(['CPU time', ms(S.cpuMs)]);
  cards.push(['bytes in', bytes(S.bytesIn)], ['bytes out', bytes(S.bytesOut)]);
  if (S.costUsd != null) cards.push(['cost', '$' + S.costUsd.toFixed(4)]);
  for (const [k, v] of cards) { const c = el('div', { class: 'card' }); c.append(el('b', {}, String(v)), el('span', {}, k)); $('cards').append(c); }

  const kinds = [...new Set(D.spans.map((s) => s.k))].sort();
  const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#86bcb6', '#d37295', '#a0cbe8'];
  const color = (k) => PALETTE[kinds.indexOf(k) % PALETTE.length];

  for (const p of S.byProgram) {
    const tr = el('tr'); tr.append(el('td', {}, p.program), el('td', { class: 'num' }, String(p.count)), el('td', { class: 'num' }, ms(p.wallMs)), el('td', { class: 'num' }, p.cpuMs == null ? '-' : ms(p.cpuMs)));
    $('by-program').tBodies[0].append(tr);
  }
  for (const i of S.slowest) {
    const s = D.spans[i]; const tr = el('tr');
    tr.append(el('td', {}, s.p), el('td', { class: 'num' }, ms(s.e - s.s)), el('td', { class: 'mono' }, short(s.n)));
    $('slowest').tBodies[0].append(tr);
  }

  // Parallelism: a step line of running thunks over the job's time.
  const P = $('parallelism'); const pw = 360, ph = 120, pad = 22;
  const maxP = Math.max(1, ...S.parallelism.map((x) => x[1])); const maxT = Math.max(1, S.wallMs);
  let d = '';
  for (const [t, n] of S.parallelism) d += (d ? ' L' : 'M') + (pad + (t / maxT) * (pw - pad - 4)).toFixed(1) + ' ' + (ph - pad - (n / maxP) * (ph - pad - 8)).toFixed(1);
  P.append(sv('path', { d, fill: 'none', stroke: '#4e79a7', 'stroke-width': 1.5 }));
  P.append(sv('line', { x1: pad, y1: ph - pad, x2: pw - 4, y2: ph - pad, stroke: '#999' }), sv('line', { x1: pad, y1: 8, x2: pad, y2: ph - pad, stroke: '#999' }));
  P.append(sv('text', { x: 2, y: 14, 'font-size': 10 }, String(maxP)), sv('text', { x: 2, y: ph - pad, 'font-size': 10 }, '0'), sv('text', { x: pw - 60, y: ph - 6, 'font-size': 10 }, ms(maxT)));

  // Legend.
  for (const k of kinds) { const s = el('span'); const i = el('i'); i.style.background = color(k); s.append(i, document.createTextNode(k)); $('legend').append(s); }
  const lg = (label, style) => { const s = el('span'); const i = el('i'); i.setAttribute('style', style); s.append(i, document.createTextNode(label)); $('legend').append(s); };
  lg('failed', 'border:2px solid #d00'); lg('stopped / unfinished', 'border:2px dashed #888'); lg('critical path', 'border:2px solid #000');

  // Timeline: a row per lane (host/slot), x = time.
  const T = $('timeline'); const left = 120, rowH = 20, top = 24;
  const width = Math.max(900, (T.parentElement.clientWidth || 1000) - 4);
  const height = top + D.lanes.length * rowH + 8;
  T.setAttribute('width', width); T.setAttribute('height', height);
  const x = (t) => left + (t / maxT) * (width - left - 10);
  const ticks = 10;
  for (let i = 0; i <= ticks; i++) {
    const t = (maxT * i) / ticks; const xx = x(t);
    T.append(sv('line', { x1: xx, y1: top - 4, x2: xx, y2: height, stroke: '#eee' }), sv('text', { x: xx + 2, y: 14 }, ms(t)));
  }
  D.lanes.forEach((lane, i) => T.append(sv('text', { x: 4, y: top + i * rowH + 14 }, lane === 'local/' + lane.split('/').pop() ? 'slot ' + lane.split('/').pop() : lane)));
  const crit = new Set(D.critical);
  const bars = D.spans.map((s, i) => {
    const r = sv('rect', { x: x(s.s).toFixed(1), y: top + s.l * rowH + 2, width: Math.max(1, x(s.e) - x(s.s)).toFixed(1), height: rowH - 4, rx: 2, fill: color(s.k), class: 'bar ' + s.st + (crit.has(i) ? ' crit' : ''), 'data-i': i });
    r.append(sv('title', {}, s.k + ' \u00b7 ' + ms(s.e - s.s) + ' \u00b7 ' + s.st + (s.d ? ' \u00b7 duplicated' : '') + (s.er ? ' \u00b7 ' + s.er : '') + '\n' + s.n));
    r.addEventListener('mouseenter', () => show(i));
    T.append(r);
    return r;
  });
  function show(i) {
    const s = D.spans[i];
    $('details').textContent = s.k + '  (' + s.a + ')  ' + s.st + (s.d ? ', duplicated (straggler)' : '') + (crit.has(i) ? ', on the critical path' : '') + '\n' +
      'thunk ' + s.n + (s.o ? '\n  discovered as ' + s.o : '') + '\n' +
      'start ' + ms(s.s) + ', wall ' + ms(s.e - s.s) + (s.c == null ? '' : ', CPU ' + ms(s.c)) + ', in ' + bytes(s.bi) + ', out ' + bytes(s.bo) + ', ' + D.lanes[s.l] + (s.er ? '\n' + s.er : '');
  }

  // Search: dims what does not match, lists what does.
  function apply() {
    const q = $('search').value.trim().toLowerCase(); const critOnly = $('crit-only').checked;
    const found = [];
    D.spans.forEach((s, i) => {
      const hit = (!q || (s.k + ' ' + s.a + ' ' + s.n + ' ' + s.o + ' ' + s.st + ' ' + s.er).toLowerCase().includes(q)) && (!critOnly || crit.has(i));
      bars[i].classList.toggle('dim', !hit);
      if (hit) found.push(i);
    });
    $('matches').textContent = (q || critOnly) ? found.length + ' of ' + D.spans.length + ' runs match' : D.spans.length + ' runs';
    const body = $('found').tBodies[0]; body.replaceChildren();
    for (const i of found.slice(0, 200)) {
      const s = D.spans[i]; const tr = el('tr');
      tr.append(el('td', {}, s.k), el('td', {}, s.st), el('td', { class: 'num' }, ms(s.s)), el('td', { class: 'num' }, ms(s.e - s.s)), el('td', { class: 'mono' }, s.n));
      tr.addEventListener('mouseenter', () => show(i));
      body.append(tr);
    }
  }
  $('search').addEventListener('input', apply);
  $('crit-only').addEventListener('change', apply);
  apply();
  document.body.setAttribute('data-ready', String(bars.length));
})();
`;
