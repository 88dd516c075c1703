/**
 * The page's stylesheet and script, inlined into the HTML: no network, no framework. Rows are
 * drawn on one canvas, only those in view, so 10 000 connections cost what one screen does.
 * Plain JavaScript in a string, so that no compiler helper can leak into the browser.
 */

export const TIMELINE_CSS = `
:root { color-scheme: light; --fg: #1d2330; --muted: #6b7280; --line: #e5e7eb; --bg: #ffffff; }
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; background: var(--bg); color: var(--fg);
  font: 12px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { display: flex; flex-direction: column; }
header { padding: 8px 12px; border-bottom: 1px solid var(--line); display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; }
header h1 { font-size: 15px; margin: 0; font-weight: 600; }
#summary { color: var(--muted); }
#legend { display: flex; gap: 10px; flex-wrap: wrap; }
#legend span { display: inline-flex; align-items: center; gap: 4px; }
#legend i { width: 12px; height: 10px; border-radius: 2px; display: inline-block; }
#codes { display: flex; gap: 4px; flex-wrap: wrap; }
#codes button { font: inherit; border: 1px solid var(--line); background: #f8fafc; border-radius: 10px; padding: 0 7px; cursor: pointer; }
#codes button.on { background: #1d2330; color: #fff; }
#filter { font: inherit; padding: 2px 6px; width: 220px; border: 1px solid var(--line); border-radius: 4px; }
#help { color: var(--muted); }
#scroller { flex: 1; overflow-y: auto; overflow-x: hidden; position: relative; }
#spacer { width: 1px; }
canvas { position: sticky; top: 0; left: 0; display: block; }
#tip { position: fixed; pointer-events: none; background: rgba(17, 24, 39, 0.95); color: #f9fafb; padding: 6px 8px;
  border-radius: 4px; font: 11px/1.35 ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre; max-width: 70vw;
  display: none; z-index: 10; box-shadow: 0 2px 8px rgba(0,0,0,.25); }
#tip b { color: #fde68a; font-weight: 600; }
`;

export const TIMELINE_JS = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('timeline-data').textContent);
  var COLORS = { connecting: '#b39ddb', open: '#43a047', readEnded: '#1e88e5', writeEnded: '#00acc1', flushing: '#fb8c00', closed: '#bdbdbd' };
  var ROW = 18, AXIS = 26, GUTTER = 250, PAD_RIGHT = 16;
  var rows = data.rows, S = data.strings, states = data.states;
  var visible = rows.map(function (_, i) { return i; });
  var view = { from: 0, to: Math.max(data.span, 1) };
  var scroller = document.getElementById('scroller');
  var spacer = document.getElementById('spacer');
  var canvas = document.getElementById('canvas');
  var ctx = canvas.getContext('2d');
  var tip = document.getElementById('tip');
  var filter = document.getElementById('filter');
  var width = 0, height = 0, dpr = 1, pending = false;

  function str(i) { return i < 0 ? '' : S[i]; }
  function bytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + ' KiB';
    if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
    return (n / 1073741824).toFixed(2) + ' GiB';
  }
  function dur(ms) {
    var a = Math.abs(ms);
    if (a < 1) return ms.toFixed(2) + ' ms';
    if (a < 1000) return Math.round(ms) + ' ms';
    if (a < 60000) return (ms / 1000).toFixed(a < 10000 ? 2 : 1) + ' s';
    if (a < 3600000) return (ms / 60000).toFixed(1) + ' min';
    return (ms / 3600000).toFixed(2) + ' h';
  }
  function endOf(r) { return r[2] < 0 ? data.span : r[2]; }
  function codeColor(code) {
    var c = code.charAt(0);
    if (c === 'C' || c === 'S' || c === '-') return '#15803d';
    if (c === 'P') return '#1d4ed8';
    return '#b91c1c';
  }
  function xOf(t) { return GUTTER + (t - view.from) / (view.to - view.from) * (width - GUTTER - PAD_RIGHT); }
  function tOf(x) { return view.from + (x - GUTTER) / (width - GUTTER - PAD_RIGHT) * (view.to - view.from); }

  function niceStep(range, px) {
    var target = range / Math.max(1, px / 110);
    var pow = Math.pow(10, Math.floor(Math.log10(target)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * pow >= target) return steps[i] * pow;
    return 10 * pow;
  }

  function resize() {
    dpr = window.devicePixelRatio || 1;
    width = scroller.clientWidth;
    height = scroller.clientHeight;
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    canvas.style.width = width + 'px';
    canvas.style.height = height + 'px';
    layout();
  }

  /** The canvas stays in view (sticky); the spacer below it makes up the rows' height. */
  function layout() {
    spacer.style.height = Math.max(0, AXIS + visible.length * ROW - height) + 'px';
    schedule();
  }

  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; draw(); });
  }

  function drawLane(r, lane, y, h, x0, x1) {
    var open = r[1];
    for (var i = 0; i < lane.length; i += 2) {
      var s = open + lane[i];
      var e = i + 2 < lane.length ? open + lane[i + 2] : endOf(r);
      var a = Math.max(xOf(s), x0), b = Math.min(xOf(e), x1);
      if (b < a) continue;
      ctx.fillStyle = COLORS[states[lane[i + 1]]];
      ctx.fillRect(a, y, Math.max(1, b - a), h);
    }
  }

  function draw() {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var top = scroller.scrollTop;
    var first = Math.max(0, Math.floor(top / ROW));
    var last = Math.min(visible.length - 1, Math.ceil((top + height - AXIS) / ROW));
    var x0 = GUTTER, x1 = width - PAD_RIGHT;
    ctx.font = '11px ui-monospace, SFMono-Regular, Menlo, monospace';
    ctx.textBaseline = 'middle';
    for (var k = first; k <= last; k++) {
      var r = rows[visible[k]];
      var y = AXIS + k * ROW - top;
      if (k % 2 === 1) { ctx.fillStyle = '#f8fafc'; ctx.fillRect(0, y, width, ROW); }
      ctx.fillStyle = '#374151';
      // The counter only: the whole id does not fit the column (the tip and the filter have it).
      ctx.fillText('#' + r[0].slice(r[0].lastIndexOf('-') + 1), 6, y + ROW / 2);
      var code = str(r[5]);
      ctx.fillStyle = codeColor(code);
      // An incomplete connection's code is its close record's, its lanes partly a guess: marked.
      ctx.fillText(r[12] >= 0 ? code + '?' : code, 64, y + ROW / 2);
      ctx.fillStyle = '#6b7280';
      ctx.fillText(bytes(r[3]) + ' \\u2191 ' + bytes(r[4]) + ' \\u2193', 90, y + ROW / 2);
      ctx.save();
      ctx.beginPath(); ctx.rect(x0, y, x1 - x0, ROW); ctx.clip();
      drawLane(r, r[9], y + 2, 6, x0, x1);
      drawLane(r, r[10], y + 9, 6, x0, x1);
      var ev = r[11];
      for (var j = 0; j < ev.length; j += 2) {
        var label = S[ev[j + 1]];
        if (label.lastIndexOf('ACTIVITY', 0) === 0) continue;
        var ex = xOf(r[1] + ev[j]);
        if (ex < x0 || ex > x1) continue;
        ctx.fillStyle = label.lastIndexOf('timer', 0) === 0 ? '#b91c1c' : 'rgba(17,24,39,0.55)';
        ctx.fillRect(Math.round(ex), y + 1, 1, ROW - 2);
      }
      var ex2 = xOf(endOf(r));
      var reasons = (str(r[6]) || '-') + ' / ' + (str(r[7]) || '-');
      if (r[2] >= 0 && ex2 + 6 + ctx.measureText(reasons).width < x1) {
        ctx.fillStyle = '#4b5563';
        ctx.fillText(reasons, ex2 + 6, y + ROW / 2);
      }
      ctx.restore();
    }
    // The time axis, over the rows.
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, width, AXIS);
    ctx.fillStyle = '#e5e7eb';
    ctx.fillRect(0, AXIS - 1, width, 1);
    ctx.fillRect(GUTTER - 1, 0, 1, height);
    var step = niceStep(view.to - view.from, x1 - x0);
    ctx.fillStyle = '#374151';
    ctx.textBaseline = 'middle';
    for (var t = Math.ceil(view.from / step) * step; t <= view.to; t += step) {
      var tx = xOf(t);
      ctx.fillStyle = '#e5e7eb';
      ctx.fillRect(Math.round(tx), AXIS - 6, 1, 6);
      ctx.fillStyle = '#374151';
      ctx.fillText('+' + dur(t), tx + 3, AXIS / 2);
    }
    ctx.fillStyle = '#6b7280';
    ctx.fillText('conn  code  bytes \\u2191c\\u2192s \\u2193s\\u2192c', 6, AXIS / 2);
    document.body.dataset.drawn = String(Math.max(0, last - first + 1));
  }

  function applyFilter() {
    // Words must all match: \`code:XX\` is an exact termination code, anything else a
    // case-insensitive part of the id, code, reasons or client address.
    var q = filter.value.trim();
    var words = q ? q.split(/\\s+/) : [];
    var code = null, parts = [];
    for (var w = 0; w < words.length; w++) {
      if (words[w].lastIndexOf('code:', 0) === 0) code = words[w].slice(5);
      else parts.push(words[w].toLowerCase());
    }
    visible = [];
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      if (code !== null && str(r[5]) !== code) continue;
      if (parts.length > 0) {
        var hay = ('#' + r[0] + ' ' + str(r[5]) + ' ' + str(r[6]) + ' ' + str(r[7]) + ' ' + str(r[8])).toLowerCase();
        var ok = true;
        for (var p = 0; p < parts.length; p++) if (hay.indexOf(parts[p]) < 0) { ok = false; break; }
        if (!ok) continue;
      }
      visible.push(i);
    }
    document.body.dataset.visibleRows = String(visible.length);
    var buttons = document.querySelectorAll('#codes button');
    for (var b = 0; b < buttons.length; b++) buttons[b].className = 'code:' + buttons[b].textContent.split(' ')[0] === q ? 'on' : '';
    layout();
  }

  function stateAt(r, lane, dt) {
    var s = lane[1];
    for (var i = 0; i < lane.length; i += 2) if (lane[i] <= dt) s = lane[i + 1];
    return states[s];
  }

  function hide() { tip.style.display = 'none'; }
  function show(ev) {
    var rect = scroller.getBoundingClientRect();
    var x = ev.clientX - rect.left, y = ev.clientY - rect.top;
    if (y < AXIS) return hide();
    var k = Math.floor((y - AXIS + scroller.scrollTop) / ROW);
    if (k < 0 || k >= visible.length) return hide();
    var r = rows[visible[k]];
    var lines = [];
    lines.push('<b>connection ' + esc(r[0]) + '</b>' + (r[8] >= 0 ? '  client ' + esc(S[r[8]]) : ''));
    lines.push('opened +' + dur(r[1]) + (r[2] >= 0 ? ', closed after ' + dur(r[2] - r[1]) : ', still open at the end of the log'));
    if (r[12] >= 0) lines.push('<b>incomplete, ' + (r[12] === 0 ? 'records lost' : r[12] + (r[12] === 1 ? ' record' : ' records') + ' lost') + '</b>: its states are what the records kept led to');
    lines.push('termination ' + esc(str(r[5])) + '   client ' + esc(str(r[6]) || '-') + '   server ' + esc(str(r[7]) || '-'));
    lines.push('bytes client\\u2192server ' + bytes(r[3]) + ' (' + r[3] + ')   server\\u2192client ' + bytes(r[4]) + ' (' + r[4] + ')');
    var ev2 = r[11], near = -1, best = Infinity;
    if (x >= GUTTER) {
      var t = tOf(x) - r[1];
      if (t < 0) lines.push('at ' + dur(-t) + ' before it opened');
      else if (r[2] >= 0 && t > r[2] - r[1]) lines.push('at ' + dur(t - (r[2] - r[1])) + ' after it closed');
      else lines.push('at +' + dur(t) + ' after open: client ' + stateAt(r, r[9], t) + ', server ' + stateAt(r, r[10], t));
      for (var j = 0; j < ev2.length; j += 2) {
        var d = Math.abs(ev2[j] - t);
        if (d < best) { best = d; near = j; }
      }
    }
    var n = ev2.length / 2, from = 0, to = n;
    if (n > 16) { var c = near < 0 ? 0 : near / 2; from = Math.max(0, Math.min(n - 16, c - 8)); to = from + 16; }
    lines.push('events (' + n + '):');
    if (from > 0) lines.push('  \\u2026');
    for (var e = from; e < to; e++) {
      var line = '  +' + dur(ev2[2 * e]) + '  ' + esc(S[ev2[2 * e + 1]]);
      lines.push(2 * e === near ? '<b>' + line + '</b>' : line);
    }
    if (to < n) lines.push('  \\u2026');
    tip.innerHTML = lines.join('\\n');
    tip.style.display = 'block';
    var tw = tip.offsetWidth, th = tip.offsetHeight;
    // Beside the pointer, flipped to its left or above it rather than over what it points at.
    var left = ev.clientX + 14 + tw <= window.innerWidth ? ev.clientX + 14 : ev.clientX - 14 - tw;
    var top = ev.clientY + 14 + th <= window.innerHeight ? ev.clientY + 14 : ev.clientY - 14 - th;
    tip.style.left = Math.max(4, left) + 'px';
    tip.style.top = Math.max(4, top) + 'px';
    document.body.dataset.hoverConnection = String(r[0]);
  }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]; }); }

  scroller.addEventListener('scroll', schedule, { passive: true });
  window.addEventListener('resize', resize);
  scroller.addEventListener('mousemove', show);
  scroller.addEventListener('mouseleave', hide);
  scroller.addEventListener('wheel', function (ev) {
    var rect = scroller.getBoundingClientRect();
    var x = ev.clientX - rect.left;
    if ((ev.ctrlKey || ev.metaKey) && x >= GUTTER) {
      ev.preventDefault();
      var t = tOf(x), f = Math.exp(ev.deltaY * 0.002);
      var range = Math.max(0.01, Math.min(Math.max(data.span, 1), (view.to - view.from) * f));
      var from = t - (t - view.from) * range / (view.to - view.from);
      view.from = Math.max(0, Math.min(from, Math.max(data.span, 1) - range));
      view.to = view.from + range;
      schedule();
    } else if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
      ev.preventDefault();
      var shift = (ev.deltaX || ev.deltaY) / (width - GUTTER) * (view.to - view.from);
      var r2 = view.to - view.from;
      view.from = Math.max(0, Math.min(view.from + shift, Math.max(data.span, 1) - r2));
      view.to = view.from + r2;
      schedule();
    }
  }, { passive: false });
  scroller.addEventListener('dblclick', function () { view.from = 0; view.to = Math.max(data.span, 1); schedule(); });
  filter.addEventListener('input', applyFilter);

  // Summary: counts by termination code; a click filters by it.
  var counts = {};
  var open = 0;
  for (var i = 0; i < rows.length; i++) {
    var code = str(rows[i][5]);
    counts[code] = (counts[code] || 0) + 1;
    if (rows[i][2] < 0) open++;
  }
  var codes = document.getElementById('codes');
  Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a]; }).forEach(function (code) {
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = code + ' ' + counts[code];
    b.title = 'show only termination code ' + code;
    b.addEventListener('click', function () { filter.value = filter.value.trim() === 'code:' + code ? '' : 'code:' + code; applyFilter(); });
    codes.appendChild(b);
  });
  var legend = document.getElementById('legend');
  states.forEach(function (s) {
    var span = document.createElement('span');
    var swatch = document.createElement('i');
    swatch.style.background = COLORS[s];
    span.appendChild(swatch);
    span.appendChild(document.createTextNode(s));
    legend.appendChild(span);
  });
  var lossy = rows.filter(function (r) { return r[12] >= 0; }).length;
  document.getElementById('summary').textContent = rows.length + ' connections' + (open ? ' (' + open + ' still open)' : '') +
    (lossy ? ', ' + lossy + ' incomplete (records lost)' : '') +
    ' over ' + dur(data.span) + (data.t0 > 1e12 ? ' from ' + new Date(data.t0).toISOString() : '') +
    (data.incomplete ? ', ' + data.incomplete + ' without their open record (not shown)' : '');
  document.body.dataset.rows = String(rows.length);
  window.timeline = { data: data, rows: rows.length, view: view, draw: draw, filter: function (q) { filter.value = q; applyFilter(); } };
  resize();
  applyFilter();
  draw();
  document.body.dataset.ready = '1';
})();
`;
