/**
 * CPU use of the server from /proc: per request (bench/run.ts), and to wait until the server has finished the work
 * a run left behind (archive builds triggered by submissions go on after the last answer) before the next run
 * starts. The server may be several processes (`npm start --workers N`: a primary and its workers,
 * lib/local/cluster.ts): everything counts, summed over the process tree.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports utime and stime in clock ticks, 100 per second on every mainstream kernel configuration. */
const TICKS_PER_SECOND = 100;

/** `pid` and every process below it, from /proc/<pid>/task/<tid>/children (Linux); gone processes are skipped. */
export function processTree(pid: number): number[] {
  const found = [pid];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of children.split(' ').filter(Boolean).map(Number)) found.push(...processTree(child));
  }
  return found;
}

/**
 * CPU time (user + system) the process and everything below it have used since it started, in seconds: each live
 * process's own time plus that of its children that have exited and been waited for (cutime, cstime), so a worker
 * that died and was replaced still counts, once.
 */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const member of processTree(pid)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${member}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile: its parent's cutime has it once it is waited for
    }
    // The command name (field 2) may hold spaces; the numeric fields start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14–17 of the whole line: utime, stime, cutime, cstime.
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** Resolves once the process tree used under `threshold` of one core for a whole `windowMs`, or after `maxMs`. */
export async function waitUntilIdle(pid: number, threshold = 0.05, windowMs = 500, maxMs = 60_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (Date.now() < deadline) {
    const before = cpuSeconds(pid);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    if ((cpuSeconds(pid) - before) / (windowMs / 1000) < threshold) return;
  }
}
