/**
 * One self-contained HTML page for a lifecycle log: every connection a row on a shared time
 * axis, its client and server lanes coloured by state, with bytes, close reasons and the
 * termination code, and every event on hover. Inline CSS and JS, no network.
 */
import type { LogRecord } from '../log/log-record.js';
import { TIMELINE_CSS, TIMELINE_JS } from './timeline-client.js';
import { timelineData } from './timeline-data.js';

/** Options of {@link renderTimelineHtml}. */
export interface TimelineHtmlOptions {
  /** The page's title. Default `proxy-lifecycle timeline`. */
  title?: string;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that is safe inside a `<script>` element: no `</script>`, no `<!--`. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * Renders the timeline of `records` (an event log: `supervisor.log.records()` or
 * `readEventLog(path)`) as one HTML page. Replays the log (as `replay(records, { timeline:
 * true })` does) to get each side's state after every event.
 *
 * @example
 * ```ts
 * writeFileSync('timeline.html', renderTimelineHtml(await readEventLog('lifecycle.jsonl')));
 * ```
 */
export function renderTimelineHtml(records: readonly LogRecord[], options: TimelineHtmlOptions = {}): string {
  const data = timelineData(records, options);
  const title = escapeHtml(data.title);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${TIMELINE_CSS}</style>
</head>
<body data-rows="${data.rows.length}">
<header>
<h1>${title}</h1>
<span id="summary"></span>
<span id="legend"></span>
<input id="filter" type="search" placeholder="filter: code:XX, reason, #id, address" aria-label="filter connections">
<span id="codes"></span>
<span id="help">hover a row for its events; ctrl+wheel zooms time, shift+wheel pans, double-click resets</span>
</header>
<div id="scroller"><canvas id="canvas"></canvas><div id="spacer"></div></div>
<div id="tip"></div>
<script type="application/json" id="timeline-data">${scriptJson(data)}</script>
<script>${TIMELINE_JS}</script>
</body>
</html>
`;
}
