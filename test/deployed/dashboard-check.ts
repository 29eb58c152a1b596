/**
 * The dashboard plots only what is emitted (docs/deploy.md, "Dashboard"): each metric of the service's own namespace
 * that a widget names, and each SEARCH over it, must match a metric that the packaged functions emitted during the
 * "as deployed" tier, read back from their logs as CloudWatch would extract it (test/support/emf.ts). AWS's own
 * metrics (AWS/Lambda, AWS/SQS) are published by AWS; the template tests check what they name.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type EmittedMetric, emfProblems, emittedMetrics, looksLikeEmf } from '../support/emf';

/** A metric a widget plots: dimensions whose value is `undefined` are searched over (any value). */
export interface PlottedMetric {
  widget: string;
  namespace: string;
  name: string;
  dimensions: Record<string, string | undefined>;
}

interface Widget {
  type: string;
  properties: { title?: string; metrics?: unknown[][] };
}

/** `SEARCH('{"namespace",Key1,Key2} MetricName="Name" Key1="value"', 'Stat', period)`, as deploy/observability.js writes it. */
const SEARCH = /^SEARCH\('\{([^}]*)\}\s*((?:\s*\w+="[^"]*")*)\s*',\s*'[^']+'(?:,\s*\d+)?\)$/;

function fromSearch(widget: string, expression: string): PlottedMetric {
  const match = SEARCH.exec(expression);
  if (!match) throw new Error(`${widget}: a search the check cannot read: ${expression}`);
  const [namespace, ...keys] = (match[1] as string).split(',').map((part) => part.trim().replace(/^"|"$/g, ''));
  const terms = Object.fromEntries([...(match[2] as string).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  const name = terms.MetricName;
  if (!namespace || !name) throw new Error(`${widget}: a search without a namespace or a MetricName: ${expression}`);
  const dimensions: Record<string, string | undefined> = Object.fromEntries(keys.map((key) => [key, terms[key]]));
  for (const key of Object.keys(terms)) {
    if (key !== 'MetricName' && !keys.includes(key)) throw new Error(`${widget}: ${key} is not in the search's schema`);
  }
  return { widget, namespace, name, dimensions };
}

/**
 * The metrics the dashboard body plots: each `[namespace, name, key, value, …, {options}]` entry, and each SEARCH
 * expression. Metric math over other entries of the widget plots nothing new.
 */
export function plottedMetrics(body: { widgets: Widget[] }): PlottedMetric[] {
  const plotted: PlottedMetric[] = [];
  for (const { type, properties } of body.widgets) {
    if (type !== 'metric') continue;
    const widget = properties.title ?? '(untitled)';
    for (const entry of properties.metrics ?? []) {
      const parts = entry.filter((part) => typeof part === 'string') as string[];
      const options = entry.find((part) => typeof part === 'object' && part !== null) as { expression?: string };
      if (parts.length === 0) {
        const expression = options?.expression ?? '';
        if (expression.startsWith('SEARCH(')) plotted.push(fromSearch(widget, expression));
        continue;
      }
      const [namespace, name, ...pairs] = parts as [string, string, ...string[]];
      if (pairs.length % 2 !== 0) throw new Error(`${widget}: a dimension without a value in ${JSON.stringify(entry)}`);
      const dimensions: Record<string, string> = {};
      for (let i = 0; i < pairs.length; i += 2) dimensions[pairs[i] as string] = pairs[i + 1] as string;
      plotted.push({ widget, namespace, name, dimensions });
    }
  }
  return plotted;
}

/** Whether `emitted` is a metric that `plotted` shows: same namespace and name, exactly its dimensions, its values. */
export function shows(plotted: PlottedMetric, emitted: Pick<EmittedMetric, 'namespace' | 'name' | 'dimensions'>) {
  if (plotted.namespace !== emitted.namespace || plotted.name !== emitted.name) return false;
  const keys = Object.keys(plotted.dimensions).sort();
  if (JSON.stringify(keys) !== JSON.stringify(Object.keys(emitted.dimensions).sort())) return false;
  return keys.every(
    (key) => plotted.dimensions[key] === undefined || plotted.dimensions[key] === emitted.dimensions[key],
  );
}

/** The plotted metrics of `namespace` that no emitted metric matches. */
export function notEmitted(
  plotted: readonly PlottedMetric[],
  emitted: readonly Pick<EmittedMetric, 'namespace' | 'name' | 'dimensions'>[],
  namespace: string,
): PlottedMetric[] {
  return plotted.filter((p) => p.namespace === namespace && !emitted.some((e) => shows(p, e)));
}

/** A dashboard body as the template holds it (Fn::Sub's string), with `${…}` left as placeholders. */
export function dashboardBody(fnSub: unknown): { widgets: Widget[] } {
  const text = (fnSub as { 'Fn::Sub'?: unknown })?.['Fn::Sub'];
  if (typeof text !== 'string') throw new Error('the dashboard body is not an Fn::Sub of a string');
  return JSON.parse(text.replace(/\$\{[^}]+\}/g, 'substituted')) as { widgets: Widget[] };
}

export interface EmittedFromLogs {
  metrics: EmittedMetric[];
  /** EMF documents that break the specification (each fails the tier). */
  invalid: { file: string; problems: string[]; line: string }[];
  documents: number;
}

/** Every EMF document in the functions' log files, checked against the specification, and the metrics they carry. */
export async function emittedInLogs(logDir: string): Promise<EmittedFromLogs> {
  const result: EmittedFromLogs = { metrics: [], invalid: [], documents: 0 };
  for (const file of (await readdir(logDir)).filter((name) => name.endsWith('.log'))) {
    for (const line of (await readFile(join(logDir, file), 'utf8')).split('\n')) {
      if (!looksLikeEmf(line)) continue;
      result.documents++;
      const problems = emfProblems(line);
      if (problems.length > 0) result.invalid.push({ file, problems, line: line.slice(0, 300) });
      else result.metrics.push(...emittedMetrics(line));
    }
  }
  return result;
}
