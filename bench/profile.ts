/**
 * Where the server's time went: the self time of a V8 `.cpuprofile` (`node --cpu-prof`), by function and by
 * module, so `npm run bench -- --profile` answers the question without opening DevTools.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  ms: number;
  share: number;
}

/** Self time per function and per module (a package, a file of this repository, or the Node/V8 internals). */
export function selfTimes(profile: CpuProfile): { functions: SelfTime[]; modules: SelfTime[] } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const functions = new Map<string, number>();
  const modules = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const micros = profile.timeDeltas[i] ?? 0;
    // Idle time is the process waiting for work; shares are of the time it spent working.
    if (!node || node.callFrame.functionName === '(idle)') return;
    total += micros;
    const frame = node.callFrame;
    const where = moduleOf(frame.url);
    const name = `${frame.functionName || '(anonymous)'} ${where}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
    functions.set(name, (functions.get(name) ?? 0) + micros);
    modules.set(where, (modules.get(where) ?? 0) + micros);
  });
  const rank = (map: Map<string, number>): SelfTime[] =>
    [...map]
      .map(([name, micros]) => ({ name, ms: micros / 1000, share: total > 0 ? micros / total : 0 }))
      .sort((a, b) => b.ms - a.ms);
  return { functions: rank(functions), modules: rank(modules) };
}

function moduleOf(url: string): string {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return url;
  const nodeModules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nodeModules?.[1]) return nodeModules[1];
  const repo = /\/((?:lib|functions|bench)\/.+)$/.exec(url);
  return repo?.[1] ?? url;
}

/**
 * Prints the top entries of the server's main-thread profile in `dir`: the largest one (tsx's module loader thread
 * writes a small one of its own).
 */
export function summarizeProfiles(dir: string, top = 25): void {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .sort((a, b) => statSync(join(dir, b)).size - statSync(join(dir, a)).size);
  for (const file of files.slice(0, 1)) {
    const { functions, modules } = selfTimes(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
    console.log(`\nCPU profile ${join(dir, file)}: self time by module`);
    for (const entry of modules.slice(0, 15)) console.log(`  ${percent(entry.share)}  ${entry.name}`);
    console.log('self time by function:');
    for (const entry of functions.slice(0, top)) console.log(`  ${percent(entry.share)}  ${entry.name}`);
  }
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1).padStart(5)} %`;
}
