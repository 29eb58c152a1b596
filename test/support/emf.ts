/**
 * CloudWatch's embedded metric format, read back: checks a log line against the specification ("Specification:
 * Embedded metric format", CloudWatch User Guide: its document structure and its JSON schema) and names the metrics
 * CloudWatch would extract from it. Used by the tests of the log lines and by the "as deployed" tier, which compares
 * what the functions emitted with what the dashboard plots (test/deployed/dashboard-check.ts).
 */

/** The units the specification's schema allows (MetricDatum's units). */
const UNITS = new Set([
  'Seconds',
  'Microseconds',
  'Milliseconds',
  'Bytes',
  'Kilobytes',
  'Megabytes',
  'Gigabytes',
  'Terabytes',
  'Bits',
  'Kilobits',
  'Megabits',
  'Gigabits',
  'Terabits',
  'Percent',
  'Count',
  'Bytes/Second',
  'Kilobytes/Second',
  'Megabytes/Second',
  'Gigabytes/Second',
  'Terabytes/Second',
  'Bits/Second',
  'Kilobits/Second',
  'Megabits/Second',
  'Gigabits/Second',
  'Terabits/Second',
  'Count/Second',
  'None',
]);

/** One metric as CloudWatch identifies it: namespace, name and dimensions (name → value). */
export interface EmittedMetric {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
  unit: string;
  value: number | number[];
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * The specification's violations in `line` (the raw text of one log event), none if it is a valid EMF document. A
 * line that is not an EMF document at all (no `_aws`) is reported as such.
 */
export function emfProblems(line: string): string[] {
  if (!line.startsWith('{')) return ['the log event must be a JSON object with nothing before it'];
  let root: unknown;
  try {
    root = JSON.parse(line);
  } catch {
    return ['the log event is not valid JSON (or has something after the object)'];
  }
  if (!isObject(root)) return ['the root node is not an object'];
  const meta = root._aws;
  if (!isObject(meta)) return ['no _aws metadata object'];
  const problems: string[] = [];
  if (!Number.isInteger(meta.Timestamp)) problems.push('_aws.Timestamp must be an integer (ms since the epoch)');
  const directives = meta.CloudWatchMetrics;
  if (!Array.isArray(directives)) return [...problems, '_aws.CloudWatchMetrics must be an array'];
  for (const [d, directive] of (directives as unknown[]).entries()) {
    problems.push(...directiveProblems(`CloudWatchMetrics[${d}]`, directive, root));
  }
  return problems;
}

function directiveProblems(at: string, directive: unknown, root: Record<string, unknown>): string[] {
  if (!isObject(directive)) return [`${at} is not an object`];
  const problems: string[] = [];
  const { Namespace, Dimensions, Metrics } = directive;
  if (typeof Namespace !== 'string' || Namespace.length < 1 || Namespace.length > 1024) {
    problems.push(`${at}.Namespace must be a string of 1 to 1024 characters`);
  } else if (Namespace.startsWith('AWS/')) problems.push(`${at}.Namespace must not start with AWS/`);
  if (!Array.isArray(Dimensions) || Dimensions.length < 1) {
    problems.push(`${at}.Dimensions must be an array of at least one DimensionSet`);
  } else {
    for (const [s, set] of (Dimensions as unknown[]).entries()) {
      if (!Array.isArray(set) || set.length > 30) {
        problems.push(`${at}.Dimensions[${s}] must be an array of at most 30 keys`);
        continue;
      }
      for (const key of set) {
        if (typeof key !== 'string' || key.length < 1 || key.length > 250) {
          problems.push(`${at}.Dimensions[${s}] has a key that is not a string of 1 to 250 characters`);
        } else if (typeof root[key] !== 'string') {
          problems.push(`the dimension ${key} must be a string member of the root node`);
        } else if ((root[key] as string).length > 1024) problems.push(`the dimension ${key} is over 1024 characters`);
      }
    }
  }
  if (!Array.isArray(Metrics) || Metrics.length > 100) {
    return [...problems, `${at}.Metrics must be an array of at most 100 MetricDefinitions`];
  }
  for (const [m, metric] of (Metrics as unknown[]).entries()) {
    if (!isObject(metric) || typeof metric.Name !== 'string' || metric.Name.length < 1) {
      problems.push(`${at}.Metrics[${m}] must have a Name`);
      continue;
    }
    if (metric.Unit !== undefined && (typeof metric.Unit !== 'string' || !UNITS.has(metric.Unit))) {
      problems.push(`${at}.Metrics[${m}].Unit ${JSON.stringify(metric.Unit)} is not a CloudWatch unit`);
    }
    if (metric.StorageResolution !== undefined && ![1, 60].includes(metric.StorageResolution as number)) {
      problems.push(`${at}.Metrics[${m}].StorageResolution must be 1 or 60`);
    }
    const value = root[metric.Name];
    const numbers = Array.isArray(value) ? value.length <= 100 && value.every(isNumber) : isNumber(value);
    if (!numbers) problems.push(`the metric ${metric.Name} must be a number (or up to 100) on the root node`);
  }
  return problems;
}

/** The metrics CloudWatch extracts from a valid EMF document (one per metric and DimensionSet). */
export function emittedMetrics(line: string): EmittedMetric[] {
  const problems = emfProblems(line);
  if (problems.length > 0) throw new Error(`not a valid EMF document: ${problems.join('; ')}\n${line}`);
  const root = JSON.parse(line) as Record<string, unknown> & {
    _aws: {
      CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit?: string }[] }[];
    };
  };
  return root._aws.CloudWatchMetrics.flatMap(({ Namespace, Dimensions, Metrics }) =>
    Dimensions.flatMap((set) =>
      Metrics.map((metric) => ({
        namespace: Namespace,
        name: metric.Name,
        dimensions: Object.fromEntries(set.map((key) => [key, root[key] as string])),
        unit: metric.Unit ?? 'None',
        value: root[metric.Name] as number | number[],
      })),
    ),
  );
}

/** Whether a line is meant as an EMF document (it carries `_aws`), valid or not (e.g. with a prefix before it). */
export function looksLikeEmf(line: string): boolean {
  return line.includes('"_aws"');
}
