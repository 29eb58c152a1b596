/**
 * What one invocation (an HTTP request, one S3 event record of the archiver) carries to every log line it causes and
 * every metric it counts, without being passed through the code it calls: Node's AsyncLocalStorage follows the
 * invocation through every `await`, callback and stream it starts, down to lib/fileserver and lib/storage
 * (docs/deploy.md, "Logs").
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context } from 'aws-lambda';
import type { MetricName } from './metrics';

interface Invocation {
  /** Fields every line of the invocation carries: its ids, the function, whether it was a cold start. */
  readonly fields: Readonly<Record<string, unknown>>;
  /** What the invocation counted (S3 requests, cache hits, archive builds), for its summary line's metrics. */
  readonly counts: Map<MetricName, number>;
}

const current = new AsyncLocalStorage<Invocation>();

/** Runs `body` as an invocation whose lines carry `fields`, counting afresh. */
export function withInvocation<T>(fields: Readonly<Record<string, unknown>>, body: () => T): T {
  return current.run({ fields, counts: new Map() }, body);
}

/** The fields of the invocation running now (none outside one: a line of the local server itself). */
export function invocationFields(): Readonly<Record<string, unknown>> {
  return current.getStore()?.fields ?? {};
}

/** Adds `amount` to a count of the invocation running now; nothing outside one. */
export function count(name: MetricName, amount = 1): void {
  const counts = current.getStore()?.counts;
  if (counts) counts.set(name, (counts.get(name) ?? 0) + amount);
}

/** What the invocation running now has counted so far. */
export function counted(): ReadonlyMap<MetricName, number> {
  return current.getStore()?.counts ?? new Map();
}

/** The functions of this process that have been invoked: Lambda runs one function per process. */
const invoked = new Set<string>();

/**
 * The fields that name a Lambda invocation: its request id, the function, and whether it is the function's first
 * invocation in this process (a cold start: the instance was just created, and this invocation paid for loading the
 * bundle and for the first SDK connections). With active tracing the X-Ray trace id too (Lambda sets
 * `_X_AMZN_TRACE_ID` for each invocation). `npm start` gives each handler a Context of the same shape
 * (lib/local/server.ts); without one (a test calling a handler) the function is named by `fallbackName`.
 */
export function lambdaFields(context: Context | undefined, fallbackName: string): Record<string, unknown> {
  const name = context?.functionName || process.env.AWS_LAMBDA_FUNCTION_NAME || fallbackName;
  const coldStart = !invoked.has(name);
  invoked.add(name);
  const traceId = process.env._X_AMZN_TRACE_ID;
  return {
    lambdaRequestId: context?.awsRequestId,
    function: name,
    coldStart,
    ...(traceId ? { traceId } : {}),
  };
}
