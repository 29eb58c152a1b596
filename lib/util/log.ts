/**
 * Structured JSON logs, one line per event (CloudWatch Logs Insights discovers their fields). Every line written
 * while an invocation runs carries its ids (lib/util/invocation.ts), so all the lines of one request can be found by
 * either id (docs/deploy.md, "Logs").
 *
 * The level is the stricter of `LOG_LEVEL` (`info`, `error` or `silent`; tests run silent) and, when the function's
 * logging configuration sets an application log level, Lambda's `AWS_LAMBDA_LOG_LEVEL`: with the JSON log format
 * Lambda drops lines below that level anyway ("Log-level filtering", Lambda developer guide), so writing them
 * would only cost time.
 */
import { Console } from 'node:console';
import { invocationFields } from './invocation';

type Level = 'info' | 'error';

const rank: Record<Level | 'silent', number> = { info: 0, error: 1, silent: 2 };

/** Lambda's application log levels ("Log-level filtering"), as the levels here: a line is `info` or `error`. */
const lambdaRank: Record<string, number> = {
  TRACE: rank.info,
  DEBUG: rank.info,
  INFO: rank.info,
  WARN: rank.error,
  ERROR: rank.error,
  FATAL: rank.silent,
};

/** Whether a line of `level` is written now: a caller can skip building a line that would be dropped. */
export function enabled(level: Level): boolean {
  const own = rank[(process.env.LOG_LEVEL ?? 'info') as Level | 'silent'] ?? rank.info;
  const lambda = lambdaRank[(process.env.AWS_LAMBDA_LOG_LEVEL ?? '').toUpperCase()] ?? rank.info;
  return rank[level] >= Math.max(own, lambda);
}

/**
 * Lines go to the process's stdout and stderr themselves, not through the global `console`: Lambda's Node runtime
 * replaces that one with its own, which puts a timestamp, the request id and a level before each line (or wraps it
 * in a JSON object of its own with the JSON log format), and a line that is not a JSON object from its first
 * character is neither an EMF document nor a JSON log event ("Specification: Embedded metric format", root node).
 */
let out: Console | undefined;

function output(): Console {
  out ??= new Console({ stdout: process.stdout, stderr: process.stderr });
  return out;
}

export function log(level: Level, message: string, fields: Record<string, unknown> = {}): void {
  if (!enabled(level)) return;
  const line = JSON.stringify({
    level,
    message,
    time: new Date().toISOString(),
    ...fields,
    // Last: a line cannot pass for another request's.
    ...invocationFields(),
  });
  if (level === 'error') output().error(line);
  else output().log(line);
}

/** The loggable parts of a failure: name, message, stack and a short cause chain, never request data. */
export function describeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { error: String(err) };
  return {
    error: err.name,
    errorMessage: err.message,
    stack: err.stack,
    ...(err.cause !== undefined ? { cause: describeError(err.cause) } : {}),
  };
}
