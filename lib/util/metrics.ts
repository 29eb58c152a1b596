/**
 * Metrics in CloudWatch's embedded metric format (EMF): a log line that carries `_aws.CloudWatchMetrics` is both the
 * line and the metric values, which CloudWatch Logs extracts with no API call of the function's own
 * ("Specification: Embedded metric format", CloudWatch User Guide). Each request's summary line and each archiver
 * line is one such document (lib/http/handler.ts, functions/archiver.ts); docs/deploy.md, "Metrics", lists them.
 *
 * CloudWatch bills every distinct namespace + name + dimensions as a metric, so the dimensions are few and of low
 * cardinality: the route and the status class, never an id.
 */
import { DEFAULT_METRICS_NAMESPACE } from '../settings';

/** Every metric the service emits, with its CloudWatch unit. */
export const METRIC_UNITS = {
  /** One per HTTP request. */
  Requests: 'Count',
  /** From the handler's start to its answer. */
  Latency: 'Milliseconds',
  /** The request body, decoded. */
  BytesIn: 'Bytes',
  /** The answer body, decoded (a redirect's body only, not the object it points to). */
  BytesOut: 'Bytes',
  /** HTTP requests sent to S3, retries included: what S3 bills (lib/storage/s3/s3-client.ts counts them). */
  S3Requests: 'Count',
  /** Exercise files answered from the function's memory, and those read from S3 (functions/exercises.ts). */
  CacheHits: 'Count',
  CacheMisses: 'Count',
  /** Archives built, their build time, and the files and bytes of the submissions they hold. */
  ArchiveBuilds: 'Count',
  ArchiveBuildDuration: 'Milliseconds',
  ArchiveFiles: 'Count',
  ArchiveBytes: 'Bytes',
} as const;

export type MetricName = keyof typeof METRIC_UNITS;

/** Metric values that share one set of dimensions (dimension name → value). */
export interface MetricGroup {
  dimensions: Readonly<Record<string, string>>;
  values: Partial<Record<MetricName, number>>;
}

export { DEFAULT_METRICS_NAMESPACE };

/** METRICS_NAMESPACE (lib/settings.ts): the deployment names its stage. Read per line, which must never fail. */
export function metricsNamespace(): string {
  return process.env.METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE;
}

/**
 * The root members that make a log line an EMF document of `groups`: `_aws` with one directive per group, and each
 * dimension and metric value as a member of its own (the specification's "target members"). Groups must not share
 * a metric name or give one dimension two values: a root member holds one value.
 */
export function emfMembers(groups: readonly MetricGroup[], timestamp = Date.now()): Record<string, unknown> {
  const members: Record<string, unknown> = {};
  const directives = [];
  for (const { dimensions, values } of groups) {
    const names = (Object.keys(values) as MetricName[]).filter((name) => values[name] !== undefined);
    if (names.length === 0) continue;
    for (const [key, value] of Object.entries(dimensions)) {
      if (key in members && members[key] !== value) throw new Error(`EMF: the dimension ${key} has two values`);
      members[key] = value;
    }
    for (const name of names) {
      if (name in members) throw new Error(`EMF: the metric ${name} is in two groups`);
      members[name] = values[name];
    }
    directives.push({
      Namespace: metricsNamespace(),
      Dimensions: [Object.keys(dimensions)],
      Metrics: names.map((name) => ({ Name: name, Unit: METRIC_UNITS[name] })),
    });
  }
  if (directives.length === 0) return {};
  return { _aws: { Timestamp: timestamp, CloudWatchMetrics: directives }, ...members };
}
