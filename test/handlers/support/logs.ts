/**
 * The structured log lines (lib/util/log.ts) written while `body` runs, for tests that need to know *why* a handler
 * failed. Logs are silent in tests (test/support/setup-env.ts); this turns them on for the duration only.
 */
export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

export async function captureLogs<T>(
  body: () => Promise<T>,
): Promise<{ result: PromiseSettledResult<T>; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const saved = process.env.LOG_LEVEL;
  const record = (chunk: unknown): boolean => {
    for (const text of String(chunk).split('\n')) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null) lines.push(parsed as LogLine);
      } catch {
        // Not one of ours.
      }
    }
    return true;
  };
  // The log writes to the process's streams themselves, not through `console` (lib/util/log.ts).
  const log = jest.spyOn(process.stdout, 'write').mockImplementation(record);
  const error = jest.spyOn(process.stderr, 'write').mockImplementation(record);
  process.env.LOG_LEVEL = 'info';
  try {
    const [result] = await Promise.allSettled([body()]);
    return { result: result as PromiseSettledResult<T>, lines };
  } finally {
    if (saved === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = saved;
    log.mockRestore();
    error.mockRestore();
  }
}
