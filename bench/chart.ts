/**
 * The benchmark's SVG chart, written by hand (no plotting dependency): one row per workload, a requests/s bar per
 * run side by side against the workload's target, and p50/p99 latency next to it.
 */

export interface ChartRow {
  workload: string;
  /** The minimum requests/s the issue asks for, if any. */
  targetRps?: number;
}

export interface ChartSeries {
  /** A run's label, e.g. "local stack" or "Flask fileserver". */
  label: string;
  /** By workload name; a workload this run did not measure is left out. */
  values: Record<string, { rps: number; p50Ms: number; p99Ms: number; errors: number }>;
}

const COLORS = ['#2b6cb0', '#dd6b20', '#2f855a', '#805ad5'];
const WIDTH = 980;
const LABEL_WIDTH = 120;
const RPS_WIDTH = 440;
const LATENCY_X = LABEL_WIDTH + RPS_WIDTH + 150;
const LATENCY_WIDTH = WIDTH - LATENCY_X - 110;
const BAR_HEIGHT = 16;
const ROW_GAP = 18;
const TOP = 70;

export function renderChart(
  title: string,
  subtitle: string,
  rows: readonly ChartRow[],
  series: readonly ChartSeries[],
) {
  const rowHeight = series.length * (BAR_HEIGHT + 4) + ROW_GAP;
  const height = TOP + rows.length * rowHeight + 64;
  const out = svgStart(height, title, subtitle);
  out.push(
    text(LABEL_WIDTH, TOP - 8, 'requests/s, log scale; target: black tick', 'fill="#333" font-weight="bold"'),
    text(LATENCY_X, TOP - 8, LATENCY_CAPTION, 'fill="#333" font-weight="bold"'),
  );
  // Log scales: the workloads differ by two orders of magnitude in rate and latency, and linear axes would flatten
  // the small ones to nothing.
  const values = series.flatMap((run) => Object.values(run.values));
  const rpsX = logAxis(
    1,
    Math.max(10, ...values.map((v) => v.rps), ...rows.map((row) => row.targetRps ?? 0)),
    RPS_WIDTH,
  );
  const latencyX = logAxis(0.1, Math.max(10, ...values.map((v) => v.p99Ms)), LATENCY_WIDTH);
  const bottom = TOP + rows.length * rowHeight - ROW_GAP + 4;
  out.push(...grid(LABEL_WIDTH, rpsX, bottom), ...grid(LATENCY_X, latencyX, bottom));
  rows.forEach((row, rowIndex) => {
    const y = TOP + rowIndex * rowHeight;
    out.push(text(16, y + rowHeight / 2 - 4, row.workload, 'font-weight="bold"'));
    series.forEach((run, runIndex) => {
      const value = run.values[row.workload];
      const barY = y + runIndex * (BAR_HEIGHT + 4);
      const color = COLORS[runIndex % COLORS.length] as string;
      if (!value) {
        out.push(text(LABEL_WIDTH, barY + 12, 'not measured', 'fill="#999"'));
        return;
      }
      const width = rpsX(value.rps);
      out.push(rect(LABEL_WIDTH, barY, width, BAR_HEIGHT, color));
      const errors = value.errors > 0 ? ` · ${value.errors} errors` : '';
      out.push(text(LABEL_WIDTH + width + 6, barY + 12, `${Math.round(value.rps).toLocaleString('en-US')}${errors}`));
      out.push(...latencyBar(LATENCY_X, barY, latencyX, value, color));
    });
    if (row.targetRps !== undefined) {
      const x = LABEL_WIDTH + rpsX(row.targetRps);
      out.push(
        `<line x1="${x.toFixed(1)}" y1="${y - 3}" x2="${x.toFixed(1)}" y2="${y + series.length * (BAR_HEIGHT + 4) - 1}" stroke="#000" stroke-width="2"/>`,
      );
    }
  });
  return svgEnd(out, height, series, 240);
}

const LATENCY_CAPTION = 'latency ms, log scale: p50 dark, p99 light';

/** The opening of a chart `height` pixels high: the canvas, its title and subtitle. */
function svgStart(height: number, title: string, subtitle: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    text(16, 24, title, 'font-size="16" font-weight="bold"'),
    text(16, 44, subtitle, 'fill="#555"'),
  ];
}

/** The legend, a swatch and label per run `spacing` pixels apart, and the chart's end: the SVG document. */
function svgEnd(out: string[], height: number, series: readonly { label: string }[], spacing: number): string {
  const legendY = height - 24;
  series.forEach((run, index) => {
    const x = 16 + index * spacing;
    out.push(rect(x, legendY - 10, 12, 12, COLORS[index % COLORS.length] as string));
    out.push(text(x + 18, legendY, run.label));
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A vertical line and a label at each of the axis's ticks, from the top of the rows down to `bottom`. */
function grid(x0: number, axis: LogAxis, bottom: number): string[] {
  return axis.ticks.flatMap((tick) => {
    const x = x0 + axis(tick);
    return [
      `<line x1="${x.toFixed(1)}" y1="${TOP - 4}" x2="${x.toFixed(1)}" y2="${bottom}" stroke="#ddd"/>`,
      text(x - 6, bottom + 14, tick.toLocaleString('en-US'), 'fill="#555"'),
    ];
  });
}

/** One run's latency: the p99 bar light, the p50 bar dark over it, and both figures after it. */
function latencyBar(
  x0: number,
  y: number,
  axis: LogAxis,
  value: { p50Ms: number; p99Ms: number },
  color: string,
): string[] {
  const p50 = axis(value.p50Ms);
  const p99 = axis(value.p99Ms);
  return [
    rect(x0, y, p99, BAR_HEIGHT, color, 'fill-opacity="0.35"'),
    rect(x0, y, p50, BAR_HEIGHT, color),
    text(x0 + p99 + 6, y + 12, `${fixed(value.p50Ms)} · ${fixed(value.p99Ms)}`),
  ];
}

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attributes}>${escapeXml(content)}</text>`;
}

function rect(x: number, y: number, width: number, height: number, fill: string, attributes = ''): string {
  return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, width).toFixed(1)}" height="${height}" fill="${fill}" ${attributes}/>`;
}

function escapeXml(value: string): string {
  return value.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);
}

function fixed(ms: number): string {
  return ms < 10 ? ms.toFixed(1) : ms.toFixed(0);
}

type LogAxis = ((value: number) => number) & { ticks: number[] };

/** A log axis from `min` to the power of ten at or above `max`, `width` pixels long, with a tick per decade. */
function logAxis(min: number, max: number, width: number): LogAxis {
  const end = 10 ** Math.ceil(Math.log10(max));
  const span = Math.log10(end / min);
  const axis = (value: number): number => (Math.log10(Math.max(value, min) / min) / span) * width;
  const ticks: number[] = [];
  for (let tick = min; tick <= end * 1.0001; tick *= 10) ticks.push(Number(tick.toPrecision(1)));
  return Object.assign(axis, { ticks });
}

export interface LatencySeries {
  /** A run's label, e.g. "before (61ed380)". */
  label: string;
  /** By row name; a row this run did not measure is left out. */
  values: Record<string, { p50Ms: number; p99Ms: number }>;
}

/** The latency chart of `npm run bench:deployed`: one row per operation, a p50/p99 bar per run, on a log scale. */
export function renderLatencyChart(
  title: string,
  subtitle: string,
  rows: readonly string[],
  series: readonly LatencySeries[],
): string {
  const labelWidth = 220;
  const barsWidth = WIDTH - labelWidth - 120;
  const rowHeight = series.length * (BAR_HEIGHT + 4) + ROW_GAP;
  const height = TOP + rows.length * rowHeight + 64;
  const out = svgStart(height, title, subtitle);
  out.push(text(labelWidth, TOP - 8, LATENCY_CAPTION, 'fill="#333" font-weight="bold"'));
  const values = series.flatMap((run) => Object.values(run.values));
  const axis = logAxis(1, Math.max(10, ...values.map((v) => v.p99Ms)), barsWidth);
  const bottom = TOP + rows.length * rowHeight - ROW_GAP + 4;
  out.push(...grid(labelWidth, axis, bottom));
  rows.forEach((row, rowIndex) => {
    const y = TOP + rowIndex * rowHeight;
    out.push(text(16, y + rowHeight / 2 - 4, row, 'font-weight="bold"'));
    series.forEach((run, runIndex) => {
      const value = run.values[row];
      const barY = y + runIndex * (BAR_HEIGHT + 4);
      const color = COLORS[runIndex % COLORS.length] as string;
      if (!value) {
        out.push(text(labelWidth, barY + 12, 'not measured', 'fill="#999"'));
        return;
      }
      out.push(...latencyBar(labelWidth, barY, axis, value, color));
    });
  });
  return svgEnd(out, height, series, 360);
}
