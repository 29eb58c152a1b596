/**
 * CPU use of the server from /proc: per request (bench/run.ts), and to wait until the server has finished the work
 * a run left behind (archive builds triggered by submissions go on after the last answer) before the next run
 * starts. The server is one process (`npm start`).
 */
import { readFileSync } from 'node:fs';

/** Linux reports utime and stime in clock ticks, 100 per second on every mainstream kernel configuration. */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) the process has used since it started, in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the numeric fields start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // fields 14 and 15 of the whole line
}

/** Resolves once the process used under `threshold` of one core for a whole `windowMs`, or after `maxMs`. */
export async function waitUntilIdle(pid: number, threshold = 0.05, windowMs = 500, maxMs = 60_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const before = cpuSeconds(pid);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    if ((cpuSeconds(pid) - before) / (windowMs / 1000) < threshold) return;
  }
}
