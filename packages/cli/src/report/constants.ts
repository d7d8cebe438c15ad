/** Largest results file the report reads; real ones are a few KiB, so anything this big is not one. */
export const MAX_RESULTS_FILE_BYTES = 4 * 1024 * 1024;

/** Width of the plotting area of every chart, in CSS pixels; the report page is laid out for ~1280. */
export const CHART_WIDTH_PX = 720;

/** Height of one band (one bar group) in horizontal bar charts, in CSS pixels. */
export const CHART_BAND_HEIGHT_PX = 22;

/** Height of vertical bar charts, in CSS pixels. */
export const CHART_HEIGHT_PX = 280;

/** File name of the report inside the output directory. */
export const REPORT_FILE_NAME = 'report.html';

/** Folder, inside the output directory, that gets one SVG per chart. */
export const CHARTS_DIR_NAME = 'charts';
