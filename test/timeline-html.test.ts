import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readEventLog, systemClock, type CloseInfo, type DisposedRecord, type LogRecord } from '../src/index.js';
import { LANE_STATES, renderTimelineHtml, timelineData, type TimelineData } from '../src/timeline/index.js';
import { CLI, ensureBuilt } from './helpers/cli-harness.js';
import { startLoopback } from './helpers/loopback.js';
import { assertReplayMatches } from './helpers/replay.js';
import { connect, readAll, startUpstreams } from './helpers/sockets.js';
import { until } from './helpers/wait.js';
import { DEMO_SCENARIOS, simulate, simulateMany } from './helpers/simulated-logs.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const DOCS_PNG = fileURLToPath(new URL('../docs/timeline.png', import.meta.url));
if (!HAVE_CHROMIUM) {
  console.log(`  timeline-html: ${CHROMIUM} is not installed, the browser tests are skipped (apt-get install -y chromium)`);
}
const browserTest = HAVE_CHROMIUM ? test : test.skip;

/** Three real loopback connections through a supervisor: an echo, an upstream reset, a refused connect. */
async function realRun(): Promise<{ records: LogRecord[]; closes: CloseInfo[] }> {
  const upstreams = await startUpstreams();
  const { echoPort, resetPort, refusedPort } = upstreams;
  const targets = [echoPort, resetPort, refusedPort];
  const rig = await startLoopback({
    supervisor: { clock: systemClock, activitySampleInterval: 0 },
    dial: () => {
      const port = targets[rig.supervisor.stats.total]!;
      return () => net.connect(port, '127.0.0.1');
    },
  });
  const { supervisor, recorded, closes, proxyPort: port } = rig;
  try {
    const a = await connect(port);
    const got = readAll(a);
    a.end('hello timeline');
    assert.is((await got).toString(), 'hello timeline');
    await until(() => closes.length === 1, 'echo closed');
    // Peers that read and answer the proxy's FIN, as real clients do.
    const b = await connect(port);
    b.on('error', () => {}).on('end', () => b.end());
    b.resume();
    b.write('reset me');
    await until(() => closes.length === 2, 'reset closed');
    const c = await connect(port);
    c.on('error', () => {}).on('end', () => c.end());
    c.resume();
    await until(() => closes.length === 3, 'refused closed');
    for (const s of [a, b, c]) s.destroy();
    assertReplayMatches(supervisor, recorded);
  } finally {
    await rig.close();
    await upstreams.close();
  }
  return { records: supervisor.log.records(), closes };
}

let real: Awaited<ReturnType<typeof realRun>>;
let browser: Browser | undefined;

test.before(async () => {
  real = await realRun();
  if (HAVE_CHROMIUM) {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  }
});

test.after(async () => {
  await browser?.close();
});

test('the page data is the replayed log: codes, reasons, bytes and lanes agree with each CloseInfo', () => {
  const data = timelineData(real.records);
  assert.is(data.rows.length, 3);
  assert.equal(real.closes.map((c) => c.code), ['CO', 'sO', 'RK'], 'the three endings');
  for (const info of real.closes) {
    const row = data.rows.find((r) => r[0] === info.id)!;
    assert.ok(row, `row of connection ${info.id}`);
    assert.is(data.strings[row[5]], info.code);
    assert.is(data.strings[row[6]], info.reasons.client);
    assert.is(data.strings[row[7]], info.reasons.server);
    assert.is(data.strings[row[8]], info.client);
    assert.is(row[3], info.bytes.clientToServer);
    assert.is(row[4], info.bytes.serverToClient);
    assert.is(row[2] - row[1], info.durationMs, 'closed after its duration');
    // Lanes start where the machine starts and end closed.
    for (const [lane, first] of [[row[9], 'open'], [row[10], 'connecting']] as const) {
      assert.is(LANE_STATES[lane[1]!], first);
      assert.is(LANE_STATES[lane[lane.length - 1]!], 'closed');
    }
  }
  const refused = data.rows.find((r) => data.strings[r[5]] === 'RK')!;
  assert.not.ok(refused[10].some((s, i) => i % 2 === 1 && LANE_STATES[s] === 'open'), 'a refused upstream never opened');
  const echo = data.rows.find((r) => data.strings[r[5]] === 'CO')!;
  const echoLane = echo[9].filter((_, i) => i % 2 === 1).map((s) => LANE_STATES[s]);
  assert.equal(echoLane.slice(0, 2), ['open', 'readEnded'], 'the client half-closed first');
});

test('the page is self-contained and its embedded data survives hostile text', () => {
  const html = renderTimelineHtml(real.records, { title: '</script><script>alert(1)</script> & co' });
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.not.match(html, /<link\b|<img\b|@import|url\(|https?:\/\//i, 'no external resource');
  assert.not.match(html, /<script[^>]*\bsrc=/i);
  assert.ok(html.includes('<title>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</title>'));
  const json = html.match(/<script type="application\/json" id="timeline-data">([\s\S]*?)<\/script>/)![1]!;
  assert.not.ok(json.includes('<'), 'no markup inside the data');
  assert.equal(JSON.parse(json), JSON.parse(JSON.stringify(timelineData(real.records, { title: '</script><script>alert(1)</script> & co' }))));
  assert.is(html.match(/<script\b/g)!.length, 2, 'the data and the script, nothing injected');
});

test('an empty log and a log that lost open records still render', () => {
  const empty = timelineData([]);
  assert.equal([empty.rows.length, empty.span, empty.incomplete], [0, 0, 0]);
  const withoutOpen = real.records.filter((r) => !(r.kind === 'open' && r.conn === real.closes[0]!.id));
  const data = timelineData(withoutOpen);
  assert.is(data.rows.length, 2);
  assert.is(data.incomplete, 1);
  const open = simulate(1, 0, DEMO_SCENARIOS.find((s) => s.name === 'still open')!);
  const row = timelineData(open).rows[0]!;
  assert.is(row[2], -1, 'a connection the log leaves open has no end');
  assert.is(timelineData(open).strings[row[5]], '--', 'and no termination code yet');
});

test('a log appended by two runs that reuse connection ids shows every connection of both', () => {
  const run = (start: number) => DEMO_SCENARIOS.slice(0, 3).flatMap((s, i) => simulate(i + 1, start + i * 10, s));
  const data = timelineData([...run(0), ...run(10_000)]);
  assert.equal(data.rows.map((r) => r[0]), ['1', '2', '3', '1', '2', '3']);
  assert.equal(data.rows.map((r) => r[1]), [0, 10, 20, 10_000, 10_010, 10_020]);
  assert.equal(data.rows.map((r) => data.strings[r[5]]), ['CO', 'CO', 'sO', 'CO', 'CO', 'sO']);
  assert.is(data.incomplete, 0);
});

async function openPage(html: string, viewport = { width: 1400, height: 800 }): Promise<{ page: Page; errors: string[]; requests: string[] }> {
  const page = await browser!.newPage({ viewport });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  await page.route('**/*', (route) => route.abort());
  await page.setContent(html, { waitUntil: 'load', timeout: 120_000 });
  await page.waitForFunction(() => document.body.dataset.ready === '1', undefined, { timeout: 120_000 });
  return { page, errors, requests };
}

/** Where row `k` (0-based, as shown) is on screen. */
async function rowPoint(page: Page, k: number, x = 600): Promise<{ x: number; y: number }> {
  const box = (await page.locator('#scroller').boundingBox())!;
  return { x: box.x + x, y: box.y + 26 + k * 18 + 9 };
}

browserTest('in Chromium: one row per connection, hover shows the events, the filter narrows rows, no errors, no network', async () => {
  const { page, errors, requests } = await openPage(renderTimelineHtml(real.records, { title: 'three connections' }));
  try {
    assert.is(await page.evaluate(() => document.body.dataset.rows), '3');
    assert.is(await page.evaluate(() => (window as unknown as { timeline: { rows: number } }).timeline.rows), 3);
    assert.is(await page.evaluate(() => document.body.dataset.drawn), '3');
    assert.match((await page.locator('#summary').textContent())!, /^3 connections over /);
    const codes = await page.locator('#codes button').allTextContents();
    assert.equal(codes.sort(), ['CO 1', 'RK 1', 'sO 1']);

    const second = real.closes.find((c) => c.code === 'sO')!;
    const p = await rowPoint(page, 1);
    await page.mouse.move(p.x, p.y);
    await page.waitForFunction(() => document.getElementById('tip')!.style.display === 'block');
    const tip = (await page.locator('#tip').textContent())!;
    assert.ok(tip.includes(`connection ${second.id}`), tip);
    assert.ok(tip.includes('termination sO') && tip.includes('server reset'), tip);
    assert.ok(tip.includes('ERROR server ECONNRESET'), 'the events are listed');
    assert.is(await page.evaluate(() => document.body.dataset.hoverConnection), String(second.id));

    // A word matches part of the code, reasons, id or address; code:XX one code exactly.
    await page.fill('#filter', 'RK');
    await page.waitForFunction(() => document.body.dataset.visibleRows === '1');
    await page.locator('#codes button', { hasText: 'CO' }).click();
    await page.waitForFunction(() => document.body.dataset.visibleRows === '1');
    assert.is(await page.inputValue('#filter'), 'code:CO');
    await page.fill('#filter', 'co');
    await page.waitForFunction(() => document.body.dataset.visibleRows === '2', undefined, { timeout: 5000 });
    await page.fill('#filter', '');
    await page.waitForFunction(() => document.body.dataset.visibleRows === '3', undefined, { timeout: 5000 });
    assert.equal(errors, []);
    assert.equal(requests, [], 'the page asked for nothing');
  } finally {
    await page.close();
  }
});

browserTest('in Chromium: an empty log renders an empty page without errors', async () => {
  const { page, errors } = await openPage(renderTimelineHtml([]));
  try {
    assert.is(await page.evaluate(() => document.body.dataset.rows), '0');
    assert.is(await page.evaluate(() => document.body.dataset.drawn), '0');
    assert.match((await page.locator('#summary').textContent())!, /^0 connections/);
    await page.mouse.move(600, 300);
    assert.equal(errors, []);
  } finally {
    await page.close();
  }
});

browserTest('in Chromium: 10 000 connections load, only the rows in view are drawn, the last row is reachable', async () => {
  const records = simulateMany(10_000);
  const html = renderTimelineHtml(records, { title: '10 000 connections' });
  const { page, errors, requests } = await openPage(html);
  try {
    assert.is(await page.evaluate(() => document.body.dataset.rows), '10000');
    const drawn = Number(await page.evaluate(() => document.body.dataset.drawn));
    assert.ok(drawn > 10 && drawn < 100, `drew ${drawn} rows, not 10 000`);
    assert.is(await page.locator('canvas').count(), 1, 'one canvas, no DOM row per connection');
    assert.ok((await page.evaluate(() => document.getElementsByTagName('*').length)) < 200);
    // Scroll to the very end: the last connection is drawn and hoverable there.
    await page.evaluate(() => {
      const s = document.getElementById('scroller')!;
      s.scrollTop = s.scrollHeight;
    });
    const box = (await page.locator('#scroller').boundingBox())!;
    await page.mouse.move(box.x + 700, box.y + box.height - 10);
    await page.waitForFunction(() => document.body.dataset.hoverConnection === '10000');
    assert.equal(errors, []);
    assert.equal(requests, []);
  } finally {
    await page.close();
  }
});

browserTest('in Chromium: a demo-like log with every kind of ending', async () => {
  const records = DEMO_SCENARIOS.flatMap((s, i) => [
    ...simulate(2 * i + 1, 1_700_000_000_000 + i * 90, s),
    ...simulate(2 * i + 2, 1_700_000_000_000 + i * 90 + 45, s),
  ]).sort((a, b) => a.t - b.t);
  const { page, errors } = await openPage(renderTimelineHtml(records, { title: 'proxy-lifecycle demo' }), { width: 1500, height: 560 });
  try {
    assert.is(await page.evaluate(() => document.body.dataset.rows), String(DEMO_SCENARIOS.length * 2));
    const codes = await page.locator('#codes button').allTextContents();
    for (const code of ['CO', 'sO', 'RK', 'TK', 'tO', 'PO', 'iO', '--']) assert.ok(codes.some((c) => c.startsWith(`${code} `)), `code ${code} shown`);
    // Connection 16 (the shutdown scenario) just after SHUTDOWN: both sides flushing. (Both
    // close as soon as they are flushed and the peer is gone, so no side lingers half-closed.)
    const p = await rowPoint(page, 15, 1140);
    await page.mouse.move(p.x, p.y);
    await page.waitForFunction(() => document.getElementById('tip')!.style.display === 'block');
    assert.match((await page.locator('#tip').textContent())!, /connection 16[\s\S]*client flushing, server flushing/, 'the lane states under the pointer');
    assert.equal(errors, []);
  } finally {
    await page.close();
  }
});

const execFileP = promisify(execFile);

/** Runs the built binary in `cwd` to its end; rejects (with its output) on a non-zero exit. */
async function runBinary(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await execFileP(process.execPath, [CLI, ...args], { cwd, timeout: 30_000, killSignal: 'SIGKILL' });
  return stdout;
}

browserTest('in Chromium: the real demo\'s log, through demo --log and replay --html (docs/timeline.png with PL_WRITE_DOCS=1)', async () => {
  ensureBuilt();
  const tmp = mkdtempSync(join(tmpdir(), 'pl-timeline-demo-'));
  try {
    // Relative names, run in tmp: the page's title is the log's name, as a user would see it.
    const demoOut = await runBinary(tmp, ['demo', '--log', 'demo.jsonl']);
    assert.match(demoOut, /^all \d+ checks passed$/m);
    const records = await readEventLog(join(tmp, 'demo.jsonl'));
    const ids = [...new Set(records.flatMap((r) => (r.kind === 'refused' ? [] : [r.conn])))].sort();
    const codes = new Map<string, number>();
    for (const r of records) if (r.kind === 'disposed') codes.set(r.code!, (codes.get(r.code!) ?? 0) + 1);
    assert.ok(ids.length >= 6, `the demo logged its connections (${ids.join(', ')})`);
    assert.is([...codes.values()].reduce((a, b) => a + b, 0), ids.length, 'every logged connection was disposed');
    const aborted = records.find((r): r is DisposedRecord => r.kind === 'disposed' && r.code === 'AO');
    assert.ok(aborted, 'the shutdown scenario destroyed its idle connection at the deadline (AO)');

    const replayOut = await runBinary(tmp, ['replay', 'demo.jsonl', '--html', 'demo.html']);
    assert.is(replayOut, `wrote demo.html (${ids.length} connections)\n`);
    const { page, errors, requests } = await openPage(readFileSync(join(tmp, 'demo.html'), 'utf8'), { width: 1500, height: 480 });
    try {
      assert.is(await page.locator('h1').textContent(), 'demo.jsonl');
      assert.is(await page.evaluate(() => document.body.dataset.rows), String(ids.length));
      assert.match((await page.locator('#summary').textContent())!, new RegExp(`^${ids.length} connections over `));
      // One row per connection: hovering each row in turn meets every connection of the log once.
      const hovered: string[] = [];
      for (let k = 0; k < ids.length; k++) {
        const p = await rowPoint(page, k, 120);
        await page.mouse.move(p.x, p.y);
        await page.waitForFunction(() => document.getElementById('tip')!.style.display === 'block');
        hovered.push((await page.evaluate(() => document.body.dataset.hoverConnection))!);
      }
      assert.equal([...hovered].sort(), ids);
      // The header counts the termination codes the log's disposed records have.
      const shown = await page.locator('#codes button').allTextContents();
      assert.equal(shown.sort(), [...codes].map(([code, n]) => `${code} ${n}`).sort());

      // The screenshot: the pointer just before the aborted connection's ABORT, its events in the tooltip.
      const k = hovered.indexOf(aborted.conn);
      const { span, opened, abortAt, before } = await page.evaluate((id) => {
        const d = (window as unknown as { timeline: { data: TimelineData } }).timeline.data;
        const row = d.rows.find((r) => r[0] === id)!;
        const events = row[11];
        let at = -1;
        let before = 0;
        for (let j = 0; j < events.length; j += 2) {
          if (d.strings[events[j + 1]!] === 'ABORT') at = events[j]!;
          else if (at < 0) before = events[j]!;
        }
        return { span: d.span, opened: row[1], abortAt: at, before };
      }, aborted.conn);
      assert.ok(abortAt >= 0, 'the aborted connection has an ABORT event');
      const box = (await page.locator('#scroller').boundingBox())!;
      // The page's time axis: x = 250 + t / span * (width - 250 - 16).
      // A little before the ABORT, nearer to it than to the event before it.
      const t = opened + abortAt - Math.min(6, (abortAt - before) / 3);
      const p = await rowPoint(page, k, 250 + (t / span) * (box.width - 266));
      await page.mouse.move(p.x, p.y);
      await page.waitForFunction((id) => document.body.dataset.hoverConnection === String(id), aborted.conn);
      const tip = (await page.locator('#tip').textContent())!;
      assert.ok(tip.includes(`connection ${aborted.conn}`), tip);
      assert.ok(tip.includes('termination AO') && tip.includes('client aborted') && tip.includes('server aborted'), tip);
      assert.match(tip, /client open, server open/, 'the lanes under the pointer: open until the abort');
      assert.match(tip, /\+\d+(\.\d+)? (ms|s)  ABORT$/m, 'the abort is among its events');
      // Only where the two events are pixels apart: the mouse moves in whole pixels, so events
      // closer than that on the axis (a demo run whose abort came fast) cannot be told apart.
      const gapPx = ((abortAt - before) / span) * (box.width - 266);
      if (gapPx >= 6) assert.is(await page.locator('#tip b', { hasText: 'ABORT' }).count(), 1, 'the abort is the event nearest the pointer');
      if (process.env.PL_WRITE_DOCS === '1') await page.screenshot({ path: DOCS_PNG });
      assert.equal(errors, []);
      assert.equal(requests, [], 'the page asked for nothing');
    } finally {
      await page.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
