/**
 * Structured JSON logs, one line per event (CloudWatch parses them). `LOG_LEVEL=silent` mutes them in tests;
 * `LOG_LEVEL=error` keeps only failures.
 */
type Level = 'info' | 'error';

const rank: Record<Level | 'silent', number> = { info: 0, error: 1, silent: 2 };

function enabled(level: Level): boolean {
  const configured = (process.env.LOG_LEVEL ?? 'info') as Level | 'silent';
  return rank[level] >= (rank[configured] ?? 0);
}

export function log(level: Level, message: string, fields: Record<string, unknown> = {}): void {
  if (!enabled(level)) return;
  const line = JSON.stringify({ level, message, time: new Date().toISOString(), ...fields });
  if (level === 'error') console.error(line);
  else console.log(line);
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
