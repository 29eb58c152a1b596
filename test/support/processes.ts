/** The processes of a running `npm start`, from /proc (Linux): whether one still runs, and a primary's workers. */
import { readdirSync, readFileSync } from 'node:fs';

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie has exited; only its parent's wait is missing.
  try {
    return !/^\S+ \S+ Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/\(.*\)/, 'x'));
  } catch {
    return false;
  }
}

/** The running `npm start` processes directly below `pid`: the workers of a primary (lib/local/cluster.ts). */
export function workersOf(pid: number): number[] {
  const found: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    let children: string[] = [];
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean);
    } catch {
      continue;
    }
    for (const child of children.map(Number)) {
      let command: string[] = [];
      try {
        command = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      if (command.some((arg) => arg.endsWith('lib/local/main.ts')) && alive(child)) found.push(child);
    }
  }
  return found;
}
