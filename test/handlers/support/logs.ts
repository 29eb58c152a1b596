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
  const record = (text: unknown): void => {
    try {
      lines.push(JSON.parse(String(text)) as LogLine);
    } catch {
      // Not one of ours.
    }
  };
  const log = jest.spyOn(console, 'log').mockImplementation(record);
  const error = jest.spyOn(console, 'error').mockImplementation(record);
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
