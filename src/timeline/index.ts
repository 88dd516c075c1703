/** Self-contained HTML timelines of lifecycle logs. */
export { renderTimelineHtml, type TimelineHtmlOptions } from './timeline-html.js';
export { timelineData, LANE_STATES, type TimelineData, type TimelineRow, type LaneState } from './timeline-data.js';
