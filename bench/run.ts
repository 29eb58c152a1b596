/**
 * `npm run bench`: requests/s, latency, MB/s and errors per workload, and the server's peak RSS.
 *
 *   npm run bench [-- --connections 16 --duration 10 --workload exercise-10k,submit]
 *   npm run bench -- --target http://old-fileserver:9999 --user re --password codex --name flask
 *
 * Without --target it starts `npm start`'s server (its folder store, Basic auth on, as ReCodEx workers use it) as a
 * child process and samples its CPU and memory from /proc; with --target it runs the same workloads against any server
 * that speaks docs/protocol.md, seeding what they need through the protocol. Each workload runs unmeasured for --warmup seconds
 * first. Results: a table, bench/results/<name>.json and bench/results/<name>.svg (with --compare, earlier runs'
 * JSON files are drawn next to this one).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ChartSeries, renderChart } from './chart';
import { cpuSeconds, waitUntilIdle } from './cpu';
import { type LoadFigures, runLoad } from './load';
import { loadFlags, nonNegative, positive, resolveTarget } from './options';
import { summarizeProfiles } from './profile';
import { runSelfCheck } from './self-check';
import { processMemory, RssSampler } from './server-process';
import { isWorkloadName, prepareWorkload, WORKLOAD_NAMES, type WorkloadName } from './workloads';

const root = join(__dirname, '..');
const resultsDir = join(root, 'bench/results');
const MB = 1e6;

/**
 * The targets of the local stack on a 2-core machine with 16 connections: at least the requests/s of the old Flask
 * fileserver under gunicorn (gthread, 3 workers × 4 threads, its best configuration here), measured side by side on
 * this machine (docs/benchmarks.md), and the p99 of an exercise GET. `flaskCpuMsPerRequest` is the old server's CPU
 * per request in the same runs, printed next to this server's.
 */
const TARGETS: Partial<Record<WorkloadName, { rps: number; p99Ms?: number; flaskCpuMsPerRequest: number }>> = {
  'exercise-10k': { rps: 3388, p99Ms: 20, flaskCpuMsPerRequest: 0.44 },
  'exercise-1m': { rps: 1100, flaskCpuMsPerRequest: 0.89 },
  submit: { rps: 1082, flaskCpuMsPerRequest: 1.52 },
  archive: { rps: 3734, flaskCpuMsPerRequest: 0.425 },
  'result-put': { rps: 2184, flaskCpuMsPerRequest: 0.684 },
  mixed: { rps: 1278, flaskCpuMsPerRequest: 0.78 },
};
const RSS_LIMIT_BYTES = 300 * MB;

interface Row extends LoadFigures {
  workload: string;
  /** Highest server RSS sampled during the measured run (local stack only). */
  peakRssMB?: number;
  /**
   * Highest server PSS sampled during the measured run: its RSS with the pages it shares with other processes (the
   * node binary) counted by its share (local stack only).
   */
  peakPssMB?: number;
  /** The machine's 1-minute load average at the end of the measured run: how much else competed for the cores. */
  loadAverage?: number;
  /** The server's CPU time (user + system) per answered request, in ms, including work it triggered (archive
   * builds) during the run (local stack only). */
  serverCpuMsPerRequest?: number;
  /** Why the row misses its targets; empty when it meets them (or has none). */
  misses: string[];
}

interface BenchResult {
  name: string;
  date: string;
  node: string;
  target: string;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Peak RSS of the server over the whole run (VmHWM), local stack only. */
  serverPeakRssMB?: number;
  rows: Row[];
}

const usage = `Usage: npm run bench -- [options]

  --target URL        a running server that speaks docs/protocol.md (default: start the local stack)
  --user U            Basic credentials for --target (default re / codex for the local stack)
  --password P
  --connections N     concurrent connections (default 16)
  --duration S        measured seconds per workload (default 10)
  --warmup S          unmeasured seconds before each workload (default 3)
  --workload LIST     comma-separated: ${WORKLOAD_NAMES.join(', ')} (default: all)
  --name NAME         results go to bench/results/NAME.json and NAME.svg (default: bench, or target)
  --compare FILES     comma-separated result JSON files of earlier runs to chart next to this one
  --replot            redraw bench/results/NAME.svg (with --compare) from NAME.json, without measuring
  --profile           write a CPU profile of the local server to bench/results/profiles and summarize it
  --bundled           run the local server from an esbuild bundle (as deployed code is built) instead of tsx
  --server-node-options="OPTS"
                      extra Node options for the local server, e.g. "--max-old-space-size=128"
  --self-check        only check the load runner against two small servers of its own on 127.0.0.1, one that
                      closes every connection (as gunicorn's sync workers do) and one that keeps them alive
                      (at most 5 s each)
  --log-level L       the local server's LOG_LEVEL (default error: the figures measure the handlers, not a
                      terminal; info adds one JSON line per request)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...loadFlags({ connections: 16, duration: 10, warmup: 3 }),
      workload: { type: 'string', default: WORKLOAD_NAMES.join(',') },
      name: { type: 'string' },
      compare: { type: 'string' },
      profile: { type: 'boolean', default: false },
      bundled: { type: 'boolean', default: false },
      replot: { type: 'boolean', default: false },
      'server-node-options': { type: 'string' },
      'self-check': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const connections = positive(values.connections, '--connections');
  const durationSeconds = positive(values.duration, '--duration');
  const warmupSeconds = nonNegative(values.warmup, '--warmup');
  if (values['self-check']) {
    if (!(await runSelfCheck({ connections, durationSeconds: Math.min(durationSeconds, 5) }))) process.exitCode = 1;
    return;
  }
  const workloads = values.workload.split(',').map((name) => {
    if (!isWorkloadName(name)) throw new Error(`unknown workload ${name}; choose from ${WORKLOAD_NAMES.join(', ')}`);
    return name;
  });
  const local = values.target === undefined;
  const name = values.name ?? (local ? 'bench' : 'target');
  const profileDir = join(resultsDir, 'profiles', name);
  const earlier = (values.compare?.split(',') ?? []).map(
    (file) => JSON.parse(readFileSync(file, 'utf8')) as BenchResult,
  );
  if (values.replot) {
    const saved = JSON.parse(readFileSync(join(resultsDir, `${name}.json`), 'utf8')) as BenchResult;
    writeFileSync(join(resultsDir, `${name}.svg`), chart(saved, earlier));
    console.log(`${table(saved)}\nwritten: bench/results/${name}.svg`);
    return;
  }

  const { target, server } = await resolveTarget(values, {
    cpuProfileDir: values.profile ? profileDir : undefined,
    bundled: values.bundled,
    nodeOptions: values['server-node-options']?.split(' ').filter(Boolean),
    env: { LOG_LEVEL: values['log-level'] },
  });

  const sampler = server ? new RssSampler(server.pid) : undefined;
  const rows: Row[] = [];
  const runId = Date.now().toString(36);
  let serverPeakRssMB: number | undefined;
  try {
    console.log(
      `target ${target.url}${local ? ' (local stack, child process)' : ''}; ${connections} connections, ` +
        `${warmupSeconds} s warm-up + ${durationSeconds} s per workload`,
    );
    for (const workload of workloads) {
      const prepared = await prepareWorkload(workload, target, { runId });
      if (warmupSeconds > 0) await runLoad(target, prepared, { connections, durationSeconds: warmupSeconds });
      if (server) await waitUntilIdle(server.pid);
      sampler?.reset();
      const cpuBefore = server ? cpuSeconds(server.pid) : 0;
      const figures = await runLoad(target, prepared, { connections, durationSeconds });
      const peakRssMB = sampler ? sampler.peakBytes / MB : undefined;
      const peakPssMB = sampler ? sampler.peakPssBytes / MB : undefined;
      const loadAverage = loadavg()[0];
      // CPU per request depends less than requests/s on what else a shared machine runs (not entirely: a busy
      // sibling core slows every instruction).
      const serverCpuMsPerRequest = server
        ? ((cpuSeconds(server.pid) - cpuBefore) * 1000) / figures.requests
        : undefined;
      const row: Row = { workload, ...figures, peakRssMB, peakPssMB, loadAverage, serverCpuMsPerRequest, misses: [] };
      row.misses = local ? misses(row) : [];
      rows.push(row);
      console.log(formatRow(row));
      // Work the run left behind (archive builds) must not land in the next workload's figures.
      if (server) await waitUntilIdle(server.pid);
    }
    if (server) serverPeakRssMB = processMemory(server.pid).peakRssBytes / MB;
  } finally {
    sampler?.stop();
    await server?.stop();
  }

  const result: BenchResult = {
    name,
    date: new Date().toISOString(),
    node: process.version,
    target: local ? 'local stack (npm start, folder store)' : target.url,
    connections,
    durationSeconds,
    warmupSeconds,
    serverPeakRssMB,
    rows,
  };
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(resultsDir, `${name}.svg`), chart(result, earlier));

  console.log(`\n${table(result)}`);
  if (serverPeakRssMB !== undefined) {
    console.log(`server peak RSS over the whole run (VmHWM): ${serverPeakRssMB.toFixed(0)} MB (target ≤ 300 MB)`);
  }
  console.log(`written: bench/results/${name}.json, bench/results/${name}.svg`);
  if (values.profile) summarizeProfiles(profileDir);

  const missed = rows.filter((row) => row.misses.length > 0).map((row) => `${row.workload} (${row.misses.join(', ')})`);
  if ((serverPeakRssMB ?? 0) * MB > RSS_LIMIT_BYTES) missed.push(`server RSS ${serverPeakRssMB?.toFixed(0)} MB`);
  if (missed.length > 0) {
    console.log(`targets missed: ${missed.join('; ')}`);
    process.exitCode = 1;
  }
}

/** What the issue asks of every workload (0 errors) and of some in particular (rate, p99, RSS). */
function misses(row: Row): string[] {
  const found: string[] = [];
  const target = TARGETS[row.workload as WorkloadName];
  if (target && row.rps < target.rps) found.push(`${Math.round(row.rps)} < ${target.rps} req/s`);
  if (target?.p99Ms !== undefined && row.p99Ms > target.p99Ms) found.push(`p99 ${row.p99Ms} > ${target.p99Ms} ms`);
  if (row.errors > 0) found.push(`${row.errors} errors`);
  if (row.non2xx > 0) found.push(`${row.non2xx} non-2xx`);
  if (row.peakRssMB !== undefined && row.peakRssMB * MB > RSS_LIMIT_BYTES)
    found.push(`RSS ${row.peakRssMB.toFixed(0)} MB`);
  return found;
}

const COLUMNS = [
  'workload',
  'req/s',
  'p50 ms',
  'p99 ms',
  'MB/s down',
  'MB/s up',
  'errors',
  'non-2xx',
  'peak RSS MB',
  'peak PSS MB',
  'server CPU ms/req',
  'client CPU ms/req',
  'load avg',
];

function cells(row: Row): string[] {
  return [
    row.workload,
    Math.round(row.rps).toLocaleString('en-US'),
    row.p50Ms.toFixed(1),
    row.p99Ms.toFixed(1),
    row.mbPerSecondDown.toFixed(1),
    row.mbPerSecondUp.toFixed(1),
    String(row.errors),
    String(row.non2xx),
    row.peakRssMB === undefined ? '–' : row.peakRssMB.toFixed(0),
    row.peakPssMB === undefined ? '–' : row.peakPssMB.toFixed(0),
    row.serverCpuMsPerRequest === undefined ? '–' : row.serverCpuMsPerRequest.toFixed(3),
    row.clientCpuMsPerRequest.toFixed(3),
    row.loadAverage === undefined ? '–' : row.loadAverage.toFixed(1),
  ];
}

function formatRow(row: Row): string {
  const verdict = row.misses.length > 0 ? `  MISSED: ${row.misses.join(', ')}` : '';
  return COLUMNS.map((column, i) => `${column} ${cells(row)[i]}`).join(' · ') + verdict;
}

/** A Markdown table, so the terminal output can go into the README as it is. */
function table(result: BenchResult): string {
  const lines = [`| ${COLUMNS.join(' | ')} | targets |`, `|${COLUMNS.map(() => '---').join('|')}|---|`];
  for (const row of result.rows) {
    const target = TARGETS[row.workload as WorkloadName];
    const goal = target
      ? `≥ ${target.rps.toLocaleString('en-US')} req/s${target.p99Ms ? `, p99 ≤ ${target.p99Ms} ms` : ''} ` +
        `(Flask ${target.flaskCpuMsPerRequest} CPU ms/req)`
      : '';
    const verdict = result.target.startsWith('local') ? (row.misses.length > 0 ? '✗' : '✓') : '';
    lines.push(`| ${cells(row).join(' | ')} | ${[goal, verdict].filter(Boolean).join(' ')} |`);
  }
  return lines.join('\n');
}

function chart(result: BenchResult, earlier: readonly BenchResult[]): string {
  const series: ChartSeries[] = [result, ...earlier].map((run) => ({
    label: `${run.name}: ${run.target}`,
    values: Object.fromEntries(
      run.rows.map((row) => [
        row.workload,
        { rps: row.rps, p50Ms: row.p50Ms, p99Ms: row.p99Ms, errors: row.errors + row.non2xx },
      ]),
    ),
  }));
  const rows = result.rows.map((row) => ({
    workload: row.workload,
    targetRps: TARGETS[row.workload as WorkloadName]?.rps,
  }));
  const rss = result.serverPeakRssMB === undefined ? '' : `, server peak RSS ${result.serverPeakRssMB.toFixed(0)} MB`;
  return renderChart(
    'ReCodEx fileserver: npm run bench',
    `${result.date.slice(0, 16).replace('T', ' ')} UTC, Node ${result.node}, ${result.connections} connections, ` +
      `${result.durationSeconds} s per workload after ${result.warmupSeconds} s warm-up${rss}`,
    rows,
    series,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
