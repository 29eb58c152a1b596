/**
 * `npm run bench:deployed`: the packaged functions under the Lambda runtime, as `npm run test:deployed` runs them
 * (test/deployed/stack.ts: the Lambda Runtime Interface Emulator, the Node 22 runtime interface client, LocalStack),
 * with S3's in-region latency put back: every S3 request a function sends is held (`--hold-ms`, default 20). Per
 * operation: p50 and p99 latency at the gateway stand-in, S3 requests and how many go one after another (the
 * depth), the Lambda billed duration from the runtime's REPORT lines, the function's peak memory, and each function's
 * init duration on a cold start; then the cost of 1,000 evaluations at list prices (`PRICES`).
 *
 *   npm run bench:deployed [-- --iterations 20 --hold-ms 20 --cold-starts 3 --name deployed --compare FILE]
 *   npm run bench:deployed -- --quick     # CI: one pass per operation, checked for running and for its table
 *   npx tsx bench/deployed.ts --replot bench/results/deployed.json --compare bench/results/deployed-before.json
 *
 * Results: the tables on the terminal, bench/results/<name>.json and a chart of the latency by operation,
 * bench/results/<name>.svg (with --compare, an earlier run's JSON drawn beside this one). docs/benchmarks.md,
 * "The deployed path: `npm run bench:deployed`".
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { matchRoute, routeOf } from '../lib/local/routes';
import type { S3Exchange } from '../test/deployed/aws-recorder';
import type { Report } from '../test/deployed/lambda-emulator';
import { type DeployedStack, startDeployedStack } from '../test/deployed/stack';
import { type RawAnswer, send } from '../test/support/http';
import { file, multipart } from '../test/support/multipart';
import { type LatencySeries, renderLatencyChart } from './chart';
import { type Cost, costOf, EVALUATION, PRICES } from './deployed-cost';
import { positive } from './options';
import { pseudoRandomBytes, resultContent, submissionFiles } from './workloads';

const root = join(__dirname, '..');
const resultsDir = join(root, 'bench/results');

/**
 * S3's latency inside a region, the default hold: AWS puts the median latency of small S3 requests (under 512 KB) "often
 * in the tens of milliseconds" (Best Practices Design Patterns: Optimizing Amazon S3 Performance, "Timeouts and
 * Retries for Latency-Sensitive Applications",
 * https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html).
 * 20 ms is the low end of that range, so the figures lean towards the fast side of AWS.
 */
const DEFAULT_HOLD_MS = 20;

/** The operations measured, in the order they run and are printed. */
const OPERATIONS = [
  'status',
  'exercise POST (new file)',
  'exercise GET',
  'exercise GET 1 MiB',
  'result PUT',
  'result GET',
  'submission POST, 5 files',
  'archiver after the POST',
  'archive GET, current',
  'submission POST, 40 files',
  'large-upload grant',
  'large-upload completion',
] as const;
type Operation = (typeof OPERATIONS)[number];

interface Sample {
  /** At the gateway stand-in; for the archiver, its invocation's duration. */
  latencyMs: number;
  invocations: number;
  billedMs: number;
  /** S3 requests billed as PUT (PUT, POST, LIST) and as GET (GET, HEAD). */
  putRequests: number;
  getRequests: number;
  /** Rounds of S3 requests one after another; undefined without a hold. */
  depth: number | undefined;
  peakMb: number | undefined;
}

interface OperationResult {
  operation: Operation;
  function: string;
  memoryMb: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  s3Requests: number;
  putRequests: number;
  getRequests: number;
  depth: number | undefined;
  billedMsP50: number;
  billedMsP99: number;
  maxMemoryMb: number | undefined;
}

interface ColdStart {
  function: string;
  memoryMb: number;
  initMs: number[];
  firstInvocationMs: number[];
}

export interface DeployedBenchResult {
  name: string;
  /** What the run is called in a chart (`--label`), e.g. "before". */
  label?: string;
  date: string;
  command: string;
  commit: string;
  node: string;
  holdMs: number;
  iterations: number;
  operations: OperationResult[];
  coldStarts: ColdStart[];
  costPer1000Evaluations: Cost;
  prices: typeof PRICES;
}

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '20' },
    'hold-ms': { type: 'string', default: String(DEFAULT_HOLD_MS) },
    'cold-starts': { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    name: { type: 'string' },
    compare: { type: 'string', multiple: true, default: [] },
    label: { type: 'string' },
    replot: { type: 'string' },
  },
});
const quick = values.quick;
const iterations = quick ? 1 : positive(values.iterations, '--iterations');
const holdMs = Number(values['hold-ms']);
if (!Number.isFinite(holdMs) || holdMs < 0) throw new Error(`--hold-ms must be 0 or more, not ${values['hold-ms']}`);
const coldStarts = quick ? 1 : positive(values['cold-starts'], '--cold-starts');
const name = values.name ?? (quick ? 'deployed-quick' : 'deployed');

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
const median = (xs: readonly number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const sha1 = (data: Buffer): string => createHash('sha1').update(data).digest('hex');

class Bench {
  readonly samples = new Map<Operation, Sample[]>();
  readonly functionOf = new Map<Operation, string>();
  readonly firstReports = new Map<string, Report[]>();

  constructor(readonly stack: DeployedStack) {}

  async call(method: string, path: string, expected: number, body?: Buffer, type?: string): Promise<RawAnswer> {
    const answer = await send(this.stack.gatewayUrl, method, path, {
      headers: { Authorization: this.stack.authorization, ...(type ? { 'Content-Type': type } : {}) },
      ...(body ? { body } : {}),
    });
    if (answer.status !== expected) {
      throw new Error(
        `${method} ${path} answered ${answer.status}, not ${expected}: ${answer.body.toString().slice(0, 300)}`,
      );
    }
    return answer;
  }

  /** The logical id of the function that serves `path` (the template's routes, matched as the gateway does). */
  routeFunction(path: string): string {
    const routes = this.stack.template.routes().map((r) => routeOf(r.resource, r.method, r.functionLogicalId));
    const match = matchRoute(routes, path);
    if (!match) throw new Error(`the template has no route for ${path}`);
    return match.route.handler;
  }

  archiverFunction(): string {
    const notification = this.stack.template.s3Notifications()[0];
    if (!notification) throw new Error('the template has no S3 notification');
    return notification.functionLogicalId;
  }

  /** Where `fn`'s invocations and S3 requests stand now, for `collect`. */
  async mark(fn: string): Promise<{ fn: string; invocation: number; exchange: number }> {
    const emulator = this.emulator(fn);
    await emulator.resetPeakMemory();
    return { fn, invocation: emulator.requestIds.length, exchange: this.stack.exchanges.length };
  }

  /** What `fn` did since `from`: its invocations' REPORT lines, its S3 requests, its peak memory. */
  async collect(
    operation: Operation,
    from: { fn: string; invocation: number; exchange: number },
    latencyMs: number | undefined,
  ): Promise<void> {
    const emulator = this.emulator(from.fn);
    const ids = emulator.requestIds.slice(from.invocation);
    if (ids.length === 0) throw new Error(`${operation}: ${from.fn} was not invoked`);
    const reports = await Promise.all(ids.map((id) => emulator.report(id)));
    const mine = this.stack.exchanges.slice(from.exchange).filter((e) => e.fn === from.fn);
    const putClass = (e: S3Exchange): boolean =>
      e.method === 'PUT' || e.method === 'POST' || (e.method === 'GET' && /[?&]list-type(&|$)/.test(e.request));
    const sample: Sample = {
      latencyMs: latencyMs ?? reports.reduce((sum, r) => sum + r.durationMs, 0),
      invocations: reports.length,
      billedMs: reports.reduce((sum, r) => sum + r.billedMs, 0),
      putRequests: mine.filter(putClass).length,
      getRequests: mine.filter((e) => !putClass(e) && e.method !== 'DELETE').length,
      depth: holdMs > 0 ? new Set(mine.map((e) => e.round)).size : undefined,
      peakMb: await emulator.peakMemoryMb(),
    };
    this.functionOf.set(operation, from.fn);
    this.samples.set(operation, [...(this.samples.get(operation) ?? []), sample]);
    // The emulator writes "Init Duration" on an instance's first invocation only: a cold start.
    for (const report of reports) {
      if (report.initMs === undefined) continue;
      this.firstReports.set(from.fn, [...(this.firstReports.get(from.fn) ?? []), report]);
    }
  }

  /** Runs `run` as one sample of `operation`, served by `fn`, timed at the gateway stand-in. */
  async measure<T>(operation: Operation, fn: string, run: () => Promise<T>): Promise<T> {
    const from = await this.mark(fn);
    const started = performance.now();
    const value = await run();
    const latencyMs = performance.now() - started;
    await this.collect(operation, from, latencyMs);
    return value;
  }

  /**
   * Waits for the archiver run that a manifest written since `from` triggers (S3 notifies it through SQS, a moment
   * later), and for every notification to be handled, so that it does not overlap the next operation.
   */
  async archiverRan(from: { fn: string; invocation: number }): Promise<void> {
    const emulator = this.emulator(from.fn);
    for (const deadline = Date.now() + 60_000; emulator.requestIds.length <= from.invocation; ) {
      if (Date.now() > deadline) throw new Error('the archiver was not notified within 60 s');
      await new Promise((done) => setTimeout(done, 20));
    }
    await this.stack.bridge.idle();
  }

  emulator(fn: string) {
    const emulator = this.stack.emulators.get(fn);
    if (!emulator) throw new Error(`no function ${fn}`);
    return emulator;
  }
}

async function runOperations(bench: Bench, rounds: number, label: string): Promise<void> {
  const fn = {
    status: bench.routeFunction('/'),
    exerciseUpload: bench.routeFunction('/exercises'),
    exercise: bench.routeFunction(`/exercises/${'0'.repeat(40)}`),
    results: bench.routeFunction('/results/a.zip'),
    submissions: bench.routeFunction('/submissions/a'),
    archives: bench.routeFunction('/submission_archives/a.zip'),
    uploads: bench.routeFunction('/uploads/submissions/a'),
    archiver: bench.archiverFunction(),
  };
  const run = `${label}-${Date.now().toString(36)}`;
  const postFiles = async (id: string, files: { path: string; data: Buffer }[]) => {
    const { body, contentType } = multipart(files.map((f) => file(f.path, f.data)));
    await bench.call('POST', `/submissions/${id}`, 200, body, contentType);
  };
  const forty = Array.from({ length: 40 }, (_, i) => {
    const source = submissionFiles(undefined)[i % 5] as { path: string; data: Buffer };
    return { path: `src/part${String(i).padStart(2, '0')}/${source.path}`, data: source.data };
  });
  const large = pseudoRandomBytes(1024 * 1024, `${run}-1m`);
  for (let i = 0; i < rounds; i++) {
    console.log(`bench:deployed: ${label}, pass ${i + 1} of ${rounds}`);
    await bench.measure('status', fn.status, () => bench.call('GET', '/', 200));

    // A fresh exercise file each time: its GET is the first in the instance, one S3 read (not from memory).
    const exercise = pseudoRandomBytes(10 * 1024, `${run}-exercise-${i}`);
    const upload = multipart([file('input.txt', exercise)]);
    await bench.measure('exercise POST (new file)', fn.exerciseUpload, () =>
      bench.call('POST', '/exercises', 200, upload.body, upload.contentType),
    );
    await bench.measure('exercise GET', fn.exercise, () => bench.call('GET', `/exercises/${sha1(exercise)}`, 200));
    const big = Buffer.from(large);
    big.write(`${run}-${i}`, 0);
    const bigUpload = multipart([file('big.bin', big)]);
    await bench.call('POST', '/exercises', 200, bigUpload.body, bigUpload.contentType);
    await bench.measure('exercise GET 1 MiB', fn.exercise, () => bench.call('GET', `/exercises/${sha1(big)}`, 200));

    const result = `/results/${run}_${i}.zip`;
    await bench.measure('result PUT', fn.results, () => bench.call('PUT', result, 200, resultContent(result)));
    await bench.measure('result GET', fn.results, () => bench.call('GET', result, 200));

    // The POST, then the archiver its manifest notifies (the S3 notification, delivered through SQS), then the GET.
    const id = `${run}_${i}`;
    const archiverFrom = await bench.mark(fn.archiver);
    await bench.measure('submission POST, 5 files', fn.submissions, () => postFiles(id, submissionFiles(undefined)));
    await bench.archiverRan(archiverFrom);
    await bench.collect('archiver after the POST', archiverFrom, undefined);
    await bench.measure('archive GET, current', fn.archives, () =>
      bench.call('GET', `/submission_archives/${id}.zip`, 200),
    );
    const afterForty = await bench.mark(fn.archiver);
    await bench.measure('submission POST, 40 files', fn.submissions, () => postFiles(`${id}_40`, forty));
    await bench.archiverRan(afterForty);

    // A large upload of one 1 MiB file: the grant, the client's PUT straight to S3, the completion.
    const declared = { 'data/input.bin': large.length };
    const grant = await bench.measure('large-upload grant', fn.uploads, () =>
      bench.call(
        'POST',
        `/uploads/submissions/${id}_large`,
        200,
        Buffer.from(JSON.stringify({ files: declared })),
        'application/json',
      ),
    );
    const granted = grant.json<{
      upload_id: string;
      files: Record<string, { url: string; headers: Record<string, string> }>;
    }>();
    const target = granted.files['data/input.bin'];
    if (!target) throw new Error('the grant has no URL for data/input.bin');
    const put = new URL(target.url);
    const stored = await send(put.origin, 'PUT', put.pathname + put.search, { headers: target.headers, body: large });
    if (stored.status !== 200) throw new Error(`the PUT to the presigned URL answered ${stored.status}`);
    const complete = Buffer.from(JSON.stringify({ upload_id: granted.upload_id, files: declared }));
    const afterCompletion = await bench.mark(fn.archiver);
    await bench.measure('large-upload completion', fn.uploads, () =>
      bench.call('POST', `/uploads/submissions/${id}_large/complete`, 200, complete, 'application/json'),
    );
    await bench.archiverRan(afterCompletion);
  }
}

function summarize(bench: Bench): OperationResult[] {
  return OPERATIONS.flatMap((operation) => {
    const samples = bench.samples.get(operation) ?? [];
    const fn = bench.functionOf.get(operation);
    if (samples.length === 0 || !fn) return [];
    const spec = bench.stack.functions.find((f) => f.logicalId === fn);
    const latency = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
    const billed = samples.map((s) => s.billedMs).sort((a, b) => a - b);
    const depths = samples.flatMap((s) => (s.depth === undefined ? [] : [s.depth]));
    const peaks = samples.flatMap((s) => (s.peakMb === undefined ? [] : [s.peakMb]));
    const put = median(samples.map((s) => s.putRequests));
    const get = median(samples.map((s) => s.getRequests));
    return [
      {
        operation,
        function: fn,
        memoryMb: spec?.memoryMb ?? 0,
        samples: samples.length,
        p50Ms: percentile(latency, 50),
        p99Ms: percentile(latency, 99),
        s3Requests: put + get,
        putRequests: put,
        getRequests: get,
        depth: depths.length > 0 ? median(depths) : undefined,
        billedMsP50: percentile(billed, 50),
        billedMsP99: percentile(billed, 99),
        maxMemoryMb: peaks.length > 0 ? Math.max(...peaks) : undefined,
      },
    ];
  });
}

function coldStartsOf(bench: Bench, firstReports: ReadonlyMap<string, Report[]>): ColdStart[] {
  return [...firstReports].map(([fn, reports]) => ({
    function: fn,
    memoryMb: bench.stack.functions.find((f) => f.logicalId === fn)?.memoryMb ?? 0,
    initMs: [...bench.emulator(fn).initMs],
    firstInvocationMs: reports.map((r) => r.durationMs),
  }));
}

const ms = (value: number | undefined): string =>
  value === undefined || Number.isNaN(value) ? '–' : value < 10 ? value.toFixed(1) : value.toFixed(0);
const usd = (value: number): string => `$${value < 0.01 ? value.toFixed(5) : value.toFixed(4)}`;

function printTables(result: DeployedBenchResult): void {
  console.log(
    `\n${result.date}, hold ${result.holdMs} ms on every S3 request, ${result.iterations} pass(es), commit ${result.commit}\n`,
  );
  console.log(
    '| operation | function (MB) | n | p50 ms | p99 ms | S3 requests | in a row | billed ms p50 | p99 | max memory MB |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of result.operations) {
    console.log(
      `| ${r.operation} | ${r.function} (${r.memoryMb}) | ${r.samples} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${r.s3Requests} | ${r.depth ?? '–'} | ${ms(r.billedMsP50)} | ${ms(r.billedMsP99)} | ${ms(r.maxMemoryMb)} |`,
    );
  }
  console.log(
    '\n| function (MB) | cold starts | init ms (median, max) | first invocation ms, init included (median) |',
  );
  console.log('|---|---|---|---|');
  for (const c of result.coldStarts) {
    const init = c.initMs.filter((x) => !Number.isNaN(x));
    console.log(
      `| ${c.function} (${c.memoryMb}) | ${c.initMs.length} | ${ms(median(init))}, ${ms(Math.max(...init))} | ${ms(median(c.firstInvocationMs))} |`,
    );
  }
  const c = result.costPer1000Evaluations;
  const p = result.prices;
  console.log(
    `\nCost of 1,000 evaluations (${EVALUATION.map((s) => (s.times > 1 ? `${s.times} × ${s.operation}` : s.operation)).join('; ')}), ${p.region} list prices of ${p.date}:`,
  );
  console.log(
    `  API Gateway REST API  ${usd(c.apiGateway)}   ($${p.apiGateway.perMillionRequests} per million, ${p.apiGateway.source})`,
  );
  console.log(
    `  Lambda requests       ${usd(c.lambdaRequests)}   ($${p.lambda.perMillionRequests} per million, ${p.lambda.source})`,
  );
  console.log(
    `  Lambda GB-seconds     ${usd(c.lambdaCompute)}   ($${p.lambda.perGbSecond} per GB-s, x86_64, billed ms p50 × memory size)`,
  );
  console.log(`  S3 PUT/POST/LIST      ${usd(c.s3Put)}   ($${p.s3.perThousandPut} per 1,000, ${p.s3.source})`);
  console.log(`  S3 GET/HEAD           ${usd(c.s3Get)}   ($${p.s3.perThousandGet} per 1,000)`);
  console.log(`  total                 ${usd(c.total)}`);
  console.log(
    `  the old server's ${p.oldServer.instance}: $${c.oldServerMonthly.toFixed(2)} a month ($${p.oldServer.perHour}/h × ${p.oldServer.hoursPerMonth} h, ${p.oldServer.source}), the price of ${Math.round(c.breakEvenPerMonth).toLocaleString('en-US')} evaluations a month`,
  );
}

function commit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'functions', 'serverless.yml'], {
      cwd: root,
    }).toString();
    return dirty.trim() ? `${head} (modified)` : head;
  } catch {
    return 'unknown';
  }
}

async function measure(): Promise<DeployedBenchResult> {
  const stack = await startDeployedStack({ name: 'bench:deployed', holdS3Ms: holdMs, measureInit: true });
  let result: DeployedBenchResult | undefined;
  try {
    // The first pass meets every function cold: its first invocations are the first cold start of each. A quick run
    // measures that pass; a full one measures the passes after it, warm, and starts every function again
    // `--cold-starts` - 1 times more, for more cold starts.
    const bench = new Bench(stack);
    const cold = quick ? bench : new Bench(stack);
    await runOperations(cold, 1, 'cold-1');
    if (!quick) await runOperations(bench, iterations, 'run');
    for (let k = 2; k <= coldStarts; k++) {
      await Promise.all([...stack.emulators.values()].map((emulator) => emulator.restart()));
      await runOperations(cold, 1, `cold-${k}`);
    }
    const operations = summarize(bench);
    result = {
      name,
      ...(values.label ? { label: values.label } : {}),
      date: new Date().toISOString(),
      command: `npm run bench:deployed -- ${process.argv.slice(2).join(' ')}`.trim(),
      commit: commit(),
      node: runtimeNode(stack),
      holdMs,
      iterations,
      operations,
      coldStarts: coldStartsOf(bench, cold.firstReports),
      costPer1000Evaluations: costOf(operations),
      prices: PRICES,
    };
  } finally {
    await stack.close(result === undefined);
  }
  const missing = OPERATIONS.filter((op) => !result?.operations.some((r) => r.operation === op));
  if (missing.length > 0) throw new Error(`not measured: ${missing.join(', ')}`);
  return result;
}

async function main(): Promise<number> {
  const replot = values.replot;
  const result = replot ? (JSON.parse(readFileSync(replot, 'utf8')) as DeployedBenchResult) : await measure();
  printTables(result);
  // A quick run (CI) checks that the bench runs; its figures are no result, so they stay out of bench/results.
  const out = replot
    ? dirname(replot)
    : quick && values.name === undefined
      ? mkdtempSync(join(tmpdir(), 'bench-deployed-'))
      : resultsDir;
  mkdirSync(out, { recursive: true });
  if (!replot) writeFileSync(join(out, `${result.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const series: LatencySeries[] = [
    ...values.compare.map((path) => seriesOf(JSON.parse(readFileSync(path, 'utf8')) as DeployedBenchResult)),
    seriesOf(result),
  ];
  writeFileSync(
    join(out, `${result.name}.svg`),
    renderLatencyChart(
      'The deployed path: latency by operation (npm run bench:deployed)',
      `${result.date.slice(0, 16)} UTC, packaged functions under the Lambda emulator, ${result.holdMs} ms on every S3 request, ${result.iterations} pass(es)`,
      OPERATIONS,
      series,
    ),
  );
  console.log(`\nwrote ${join(out, `${result.name}.json`)} and ${result.name}.svg beside it`);
  return 0;
}

/** The version of the Node the functions ran on (the tier's Node 22). */
function runtimeNode(stack: DeployedStack): string {
  const emulator = stack.emulators.values().next().value;
  if (!emulator) return 'unknown';
  return execFileSync(emulator.options.tools.node22, ['--version']).toString().trim();
}

function seriesOf(result: DeployedBenchResult): LatencySeries {
  return {
    label: `${result.label ?? result.name} (${result.commit}, ${result.date.slice(0, 16).replace('T', ' ')} UTC)`,
    values: Object.fromEntries(result.operations.map((r) => [r.operation, { p50Ms: r.p50Ms, p99Ms: r.p99Ms }])),
  };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`bench:deployed FAILED: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
    process.exitCode = 1;
  },
);
