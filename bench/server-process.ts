/**
 * `npm start`'s server (the local API Gateway stand-in over its folder store) as a child process, so the benchmark
 * measures it from outside, as a client would, and can read its memory from /proc without counting its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(__dirname, '..');

export interface ServerProcessOptions {
  /** HTTP Basic credentials the server requires (ReCodEx workers always send them). */
  username: string;
  password: string;
  /** Write a V8 CPU profile of the server into this folder when it stops (`node --cpu-prof`). */
  cpuProfileDir?: string;
  /** Extra environment for the server, e.g. LOG_LEVEL or EXERCISE_CACHE_BYTES. */
  env?: NodeJS.ProcessEnv;
  /**
   * Run the server from an esbuild bundle of `lib/local/main.ts` (dependencies left in node_modules), compiled
   * ahead of time as the deployed functions are, instead of through tsx as `npm start` does.
   */
  bundled?: boolean;
  /** Extra Node options for the server, e.g. V8 heap limits. */
  nodeOptions?: readonly string[];
}

/**
 * The heap bound of `npm start` (package.json). The server's live data is about 35 MB; without a bound V8 lets the
 * heap, and the 1 MiB response buffers it frees only on a major GC, grow past 300 MB under load. With it, peak RSS
 * stays under 200 MB at a similar request rate (docs/benchmarks.md).
 */
const NPM_START_NODE_OPTIONS = ['--max-old-space-size=256'];

/** Where the bundle goes: two folders deep, like lib/local/, so the server's `__dirname`-relative paths hold. */
const BUNDLE = join(root, '.build/bench/server.js');

export interface ServerProcess {
  url: string;
  pid: number;
  /** Stops the server (SIGINT, as Ctrl-C does) and waits until it has exited and written any profile. */
  stop(): Promise<void>;
}

export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const nodeArgs: string[] = [...NPM_START_NODE_OPTIONS, ...(options.nodeOptions ?? [])];
  if (options.cpuProfileDir) {
    mkdirSync(options.cpuProfileDir, { recursive: true });
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir);
  }
  if (options.bundled) {
    await build({
      entryPoints: [join(root, 'lib/local/main.ts')],
      outfile: BUNDLE,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      packages: 'external',
      logLevel: 'warning',
    });
  }
  // `node --require tsx/cjs`, as `npm start` runs it (package.json; its ESM loader, `--import tsx`, costs a loader
  // thread of about 25 MB per process), rather than the tsx CLI: the CLI runs the script in a second process, and
  // the pid whose memory we read must be the server's own.
  const entry = options.bundled ? [BUNDLE] : ['--require', 'tsx/cjs', join(root, 'lib/local/main.ts')];
  const child = spawn(
    process.execPath,
    [...nodeArgs, ...entry, '--port', '0', '--username', options.username],
    // The password through the environment: the server takes none on its command line, where ps shows it.
    {
      cwd: root,
      env: { ...process.env, ...options.env, FILESERVER_PASSWORD: options.password },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await listeningUrl(child);
  // Keep draining stdout: a full pipe would block the server's (synchronous) log writes.
  child.stdout?.resume();
  return {
    url,
    pid: child.pid as number,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      await exited;
    },
  };
}

/** The URL `npm start` prints once it serves (lib/local/start-lines.ts). */
function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
      if (url && output.includes('Press Ctrl-C to stop.')) {
        child.stdout?.off('data', onData);
        resolve(url);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the server exited with ${code} before listening:\n${output}`)));
  });
}

/** Resident memory of a process in bytes: now (`VmRSS`) and its peak since it started (`VmHWM`). */
export function processMemory(pid: number): { rssBytes: number; peakRssBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rssBytes: kib('VmRSS') * 1024, peakRssBytes: kib('VmHWM') * 1024 };
}

/**
 * The server's memory now, in bytes: its RSS, and its proportional set size (/proc/<pid>/smaps_rollup), which counts
 * the pages it shares with other processes (the node binary, the files it maps) by its share of them.
 */
function memoryNow(pid: number): { rssBytes: number; pssBytes: number } {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const pssBytes = Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) * 1024;
    return { rssBytes: processMemory(pid).rssBytes, pssBytes };
  } catch {
    return { rssBytes: 0, pssBytes: 0 }; // exited
  }
}

/**
 * Samples the server's memory at a fixed interval, so each workload gets its own peak (VmHWM only ever grows, over
 * the whole life of the process). A sampled peak can miss a spike shorter than the interval.
 */
export class RssSampler {
  private peak = 0;
  private peakPss = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 100,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  /** The highest RSS seen since the last reset, in bytes. */
  get peakBytes(): number {
    this.sample();
    return this.peak;
  }

  /** The highest PSS seen since the last reset, in bytes. */
  get peakPssBytes(): number {
    this.sample();
    return this.peakPss;
  }

  reset(): void {
    this.peak = 0;
    this.peakPss = 0;
    this.sample();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const { rssBytes, pssBytes } = memoryNow(this.pid);
    if (rssBytes === 0) return; // the process has exited; keep the last peak
    this.peak = Math.max(this.peak, rssBytes);
    this.peakPss = Math.max(this.peakPss, pssBytes);
  }
}
