/**
 * Package sizes and cold load times of the Lambda bundles.
 *
 *   npx tsx bench/packages.ts [--runs 7] [--skip-package] [--check]
 *
 * Unless --skip-package it runs `osls package` (with the deploy params below), then for every function of
 * .serverless/serverless-state.json (or every .serverless/*.zip) it measures the zip, extracts it, and times
 * `require()` of the handler's file in fresh Node processes (--runs each, interleaved across functions; the median,
 * min and max are reported). Each child gets only BUCKET=x and NODE_OPTIONS=--enable-source-maps (as deployed) as
 * environment: a bundle must neither need configuration
 * nor start network calls at require time, which one extra instrumented run per function checks.
 * Bounds (flagged): zip ≥ 400 KB, median cold load ≥ 150 ms. KB = 1000 bytes, KiB = 1024.
 * Results: a table on the terminal and bench/results/packages.json.
 *
 * --check (`npm run check:packages`, run by CI after `npm run package`): the bounds as a test. It measures the
 * packages already built, writes no results file, and exits 1 if any function is flagged. The cold load is judged
 * by its median wall time, unless that is more than 1.25 × the median CPU time of the same loads: then the children
 * waited for a CPU that other processes held (CI and other work share 2 cores here), the wall time measures them,
 * and the median CPU time, which they do not inflate, is judged instead. The table says which was.
 */
import { type SpawnOptions, spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { parseDocument } from 'yaml';
import { openPromise } from 'yauzl';

const root = join(__dirname, '..');
const serverlessDir = join(root, '.serverless');
const resultsFile = join(root, 'bench/results/packages.json');

const PACKAGE_ARGS = [
  'osls',
  'package',
  '--param=credentialsParameter=/recodex/fileserver/credentials',
  '--param=vpcEndpointIds=vpce-0123456789abcdef0',
];
const MAX_ZIP_BYTES = 400_000;
const MAX_COLD_LOAD_MS = 150;
/** Every deployed function runs with --enable-source-maps (serverless.yml), so the load is timed with it. */
const CHILD_ENV = { BUCKET: 'x', NODE_OPTIONS: '--enable-source-maps' };
const CHILD_TIMEOUT_MS = 30_000;

/** Timed run: nothing but the require between the two clock reads. argv: [file, export path]. */
const TIMED_SCRIPT = `
const file = process.argv[1];
const path = process.argv[2].split('.');
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const mod = require(file);
const t1 = process.hrtime.bigint();
const cpu = process.cpuUsage(c0);
let handler = mod;
for (const key of path) handler = handler == null ? undefined : handler[key];
process.stdout.write(JSON.stringify({ ms: Number(t1 - t0) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, handlerType: typeof handler }) + '\\n');
process.exit(0);
`;

/**
 * Instrumented run (not timed): records TCP connects (refused, never sent) and DNS lookups made during the require and
 * the next 100 ms, uncaught errors, and the handles the require left open (timers, sockets).
 */
const PROBE_SCRIPT = `
const net = require('node:net');
const dns = require('node:dns');
const network = [];
const errors = [];
process.on('uncaughtException', (error) => errors.push(String(error)));
process.on('unhandledRejection', (error) => errors.push(String(error)));
net.Socket.prototype.connect = function (...args) {
  const target = Array.isArray(args[0]) ? args[0][0] : args[0];
  const where =
    target !== null && typeof target === 'object'
      ? (target.host || target.hostname || target.path || '?') + (target.port ? ':' + target.port : '')
      : String(target);
  network.push('connect ' + where);
  process.nextTick(() => this.destroy(new Error('bench: no network at require time')));
  return this;
};
for (const target of [dns, dns.promises]) {
  const lookup = target.lookup;
  target.lookup = function (host, ...rest) {
    network.push('lookup ' + host);
    return lookup.call(this, host, ...rest);
  };
}
// The parent's pipes, opened lazily on first use: open them now so that they do not count as the bundle's.
void process.stdout;
void process.stderr;
const before = process.getActiveResourcesInfo();
require(process.argv[1]);
const after = process.getActiveResourcesInfo();
const left = [...after];
for (const name of before) {
  const i = left.indexOf(name);
  if (i >= 0) left.splice(i, 1);
}
setTimeout(() => {
  process.stdout.write(JSON.stringify({ network, errors, openHandles: left }) + '\\n');
  process.exit(0);
}, 100);
`;

interface FunctionInfo {
  name: string;
  handler: string;
  /** The handler recorded by the packaging run, when it differs from serverless.yml's. */
  packagedHandler?: string;
  zip: string;
}

interface LoadSample {
  ms: number;
  /** User + system CPU of the whole process (all threads) during the require. */
  cpuMs: number;
  handlerType: string;
}

interface Probe {
  network: string[];
  errors: string[];
  openHandles: string[];
}

interface Row {
  function: string;
  handler: string;
  bundle: string;
  zippedBytes: number;
  zippedKB: number;
  zippedKiB: number;
  unzippedBytes: number;
  unzippedKB: number;
  unzippedKiB: number;
  files: number;
  coldLoadMs: { median: number; min: number; max: number; runs: number[] };
  cpuMs: { median: number; runs: number[] };
  handlerType: string;
  network: string[];
  errors: string[];
  openHandles: string[];
  flags: string[];
}

function run(
  command: string,
  args: string[],
  options: SpawnOptions & { tee?: boolean; timeoutMs?: number },
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (options.tee) process.stdout.write(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (options.tee) process.stderr.write(chunk);
    });
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill(), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

async function packageService(): Promise<number> {
  console.log(`$ npx ${PACKAGE_ARGS.join(' ')}`);
  const started = process.hrtime.bigint();
  const result = await run('npx', PACKAGE_ARGS, { cwd: root, env: process.env, tee: true });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const output = `${result.stdout}\n${result.stderr}`;
  const paramLines = output.split('\n').filter((line) => /param/i.test(line));
  if (result.code !== 0) {
    console.error(`\nosls package failed (exit ${result.code ?? result.signal}) after ${(ms / 1000).toFixed(1)} s.`);
    if (paramLines.length > 0) {
      console.error('Lines about params (osls may have rejected one of the --param values):');
      for (const line of paramLines) console.error(`  ${line.trim()}`);
    }
    console.error('Existing artifacts can be measured with --skip-package.');
    process.exit(1);
  }
  if (paramLines.length > 0) {
    console.warn('\nosls mentioned params while packaging:');
    for (const line of paramLines) console.warn(`  ${line.trim()}`);
  }
  return ms;
}

/** `functions.<name>.handler` of serverless.yml, read as plain YAML (variables stay unresolved strings). */
function handlersFromServerlessYml(): Map<string, string> {
  const document = parseDocument(readFileSync(join(root, 'serverless.yml'), 'utf8'), { logLevel: 'silent' });
  if (document.errors.length > 0) throw new Error(`serverless.yml: ${document.errors[0]?.message}`);
  const config = document.toJS() as { functions?: Record<string, { handler?: unknown } | null> } | null;
  const handlers = new Map<string, string>();
  for (const [name, fn] of Object.entries(config?.functions ?? {})) {
    if (typeof fn?.handler === 'string') handlers.set(name, fn.handler);
  }
  return handlers;
}

function listFunctions(): FunctionInfo[] {
  const handlers = handlersFromServerlessYml();
  const stateFile = join(serverlessDir, 'serverless-state.json');
  const packaged = new Map<string, { zip: string; handler?: string }>();
  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      service?: { functions?: Record<string, { handler?: string; package?: { artifact?: string } }> };
    };
    for (const [name, fn] of Object.entries(state.service?.functions ?? {})) {
      const artifact = fn.package?.artifact ?? join('.serverless', `${name}.zip`);
      packaged.set(name, { zip: resolve(root, artifact), handler: fn.handler });
    }
  } else {
    console.warn('no .serverless/serverless-state.json: listing .serverless/*.zip');
    for (const file of readdirSync(serverlessDir)) {
      if (file.endsWith('.zip')) packaged.set(file.slice(0, -'.zip'.length), { zip: join(serverlessDir, file) });
    }
  }
  for (const name of handlers.keys()) {
    if (!packaged.has(name)) console.warn(`warning: ${name} is in serverless.yml but was not packaged`);
  }
  const functions: FunctionInfo[] = [];
  for (const [name, { zip, handler: packagedHandler }] of packaged) {
    const handler = handlers.get(name) ?? packagedHandler;
    if (handler === undefined) throw new Error(`${name}: no handler in serverless.yml nor in the packaging state`);
    if (!handlers.has(name)) console.warn(`warning: ${name} was packaged but is not in serverless.yml now`);
    if (!existsSync(zip)) throw new Error(`${name}: ${relative(root, zip)} is missing`);
    const info: FunctionInfo = { name, handler, zip };
    if (packagedHandler !== undefined && packagedHandler !== handler) {
      console.warn(`warning: ${name}: serverless.yml says ${handler}, the package was built for ${packagedHandler}`);
      info.packagedHandler = packagedHandler;
    }
    functions.push(info);
  }
  return functions;
}

/** Extracts every entry (yauzl refuses absolute and `..` names); returns the entries' total uncompressed size. */
async function extract(zipPath: string, into: string): Promise<{ bytes: number; files: number }> {
  const zip = await openPromise(zipPath, { lazyEntries: true });
  let bytes = 0;
  let files = 0;
  for await (const entry of zip.eachEntry()) {
    const target = join(into, ...entry.fileName.split('/'));
    if (entry.fileName.endsWith('/')) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    mkdirSync(dirname(target), { recursive: true });
    await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(target));
    bytes += entry.uncompressedSize;
    files += 1;
  }
  return { bytes, files };
}

/**
 * Lambda's Node.js handler string: the module is the path up to the first dot of the last segment, the rest is the
 * (possibly nested) export; the module file is <module>.js, .mjs or .cjs.
 */
function resolveHandler(dir: string, handler: string): { file: string; exportPath: string } {
  const slash = handler.lastIndexOf('/');
  const dot = handler.indexOf('.', slash + 1);
  if (dot < 0) throw new Error(`handler ${handler} has no export part`);
  const modulePath = handler.slice(0, dot);
  const exportPath = handler.slice(dot + 1);
  for (const extension of ['.js', '.mjs', '.cjs']) {
    const file = join(dir, ...modulePath.split('/')) + extension;
    if (existsSync(file)) return { file, exportPath };
  }
  throw new Error(`handler ${handler}: no ${modulePath}.js/.mjs/.cjs in the package`);
}

async function nodeChild(script: string, args: string[]): Promise<string> {
  const result = await run(process.execPath, ['-e', script, ...args], {
    cwd: tmpdir(),
    env: CHILD_ENV,
    timeoutMs: CHILD_TIMEOUT_MS,
  });
  const last = result.stdout.trim().split('\n').pop();
  if (result.code !== 0 || !last) {
    const reason = result.signal ? `killed (${result.signal}, ${CHILD_TIMEOUT_MS} ms limit)` : `exit ${result.code}`;
    throw new Error(`node -e require(${args[0]}): ${reason}\n${result.stderr.trim()}`);
  }
  return last;
}

/**
 * The cold load a bound is applied to: the median wall time, or the median CPU time when the wall time is more than
 * 1.25 × that (the children waited for a CPU other processes held, which a Lambda instance does not share).
 */
function coldLoad(wallMedian: number, cpuMedian: number): { ms: number; judged: 'wall' | 'cpu, machine busy' } {
  return wallMedian > 1.25 * cpuMedian
    ? { ms: cpuMedian, judged: 'cpu, machine busy' }
    : { ms: wallMedian, judged: 'wall' };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

const kb = (bytes: number): number => bytes / 1000;
const kib = (bytes: number): number => bytes / 1024;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '7' },
      'skip-package': { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);

  const loadAverageAtStart = loadavg();
  const packageMs = values['skip-package'] ? undefined : await packageService();
  if (!existsSync(serverlessDir)) throw new Error('no .serverless/: run without --skip-package');
  const functions = listFunctions();
  if (functions.length === 0) throw new Error('no packaged functions in .serverless/');

  const work = mkdtempSync(join(tmpdir(), 'bench-packages-'));
  try {
    const prepared = [];
    for (const fn of functions) {
      const dir = join(work, fn.name);
      const { bytes, files } = await extract(fn.zip, dir);
      const { file, exportPath } = resolveHandler(dir, fn.handler);
      prepared.push({ fn, dir, file, exportPath, zippedBytes: statSync(fn.zip).size, unzippedBytes: bytes, files });
    }

    // Interleaved, so that drift in machine load spreads over all functions alike.
    const samples = new Map<string, LoadSample[]>(prepared.map((p) => [p.fn.name, []]));
    for (let round = 0; round < runs; round++) {
      if (process.stdout.isTTY) process.stdout.write(`\rcold loads: run ${round + 1}/${runs}`);
      for (const p of prepared) {
        const sample = JSON.parse(await nodeChild(TIMED_SCRIPT, [p.file, p.exportPath])) as LoadSample;
        samples.get(p.fn.name)?.push(sample);
      }
    }
    if (process.stdout.isTTY) process.stdout.write('\n');

    const rows: Row[] = [];
    for (const p of prepared) {
      const probe = JSON.parse(await nodeChild(PROBE_SCRIPT, [p.file])) as Probe;
      const loads = samples.get(p.fn.name) ?? [];
      const ms = loads.map((s) => s.ms);
      const handlerTypes = [...new Set(loads.map((s) => s.handlerType))];
      const handlerType = handlerTypes.join('|');
      const coldLoadMs = { median: median(ms), min: Math.min(...ms), max: Math.max(...ms), runs: ms };
      const cpu = loads.map((s) => s.cpuMs);
      const cpuMs = { median: median(cpu), runs: cpu };
      const flags: string[] = [];
      if (p.zippedBytes >= MAX_ZIP_BYTES) flags.push(`zip ≥ ${kb(MAX_ZIP_BYTES)} KB`);
      if (coldLoad(coldLoadMs.median, cpuMs.median).ms >= MAX_COLD_LOAD_MS) {
        flags.push(`cold load ≥ ${MAX_COLD_LOAD_MS} ms (${coldLoad(coldLoadMs.median, cpuMs.median).judged})`);
      }
      if (handlerType !== 'function') flags.push(`handler ${p.exportPath} is ${handlerType}`);
      if (probe.network.length > 0) flags.push(`network at require: ${probe.network.join(', ')}`);
      if (probe.errors.length > 0) flags.push(`uncaught after require: ${probe.errors.join(', ')}`);
      if (probe.openHandles.length > 0) flags.push(`left open at require: ${probe.openHandles.join(', ')}`);
      if (p.fn.packagedHandler !== undefined) flags.push(`packaged for ${p.fn.packagedHandler}`);
      rows.push({
        function: p.fn.name,
        handler: p.fn.handler,
        bundle: relative(p.dir, p.file).split(sep).join(posix.sep),
        zippedBytes: p.zippedBytes,
        zippedKB: kb(p.zippedBytes),
        zippedKiB: kib(p.zippedBytes),
        unzippedBytes: p.unzippedBytes,
        unzippedKB: kb(p.unzippedBytes),
        unzippedKiB: kib(p.unzippedBytes),
        files: p.files,
        coldLoadMs,
        cpuMs,
        handlerType,
        network: probe.network,
        errors: probe.errors,
        openHandles: probe.openHandles,
        flags,
      });
    }

    const header = `${'function'.padEnd(18)} ${'zipped KB (KiB)'.padStart(17)} ${'unzipped KB (KiB)'.padStart(19)} ${'median ms'.padStart(10)} ${'min'.padStart(7)} ${'max'.padStart(7)} ${'cpu ms'.padStart(7)}  flags`;
    console.log(`\ncold load = require() of the bundle in a fresh \`node -e\` (${process.version}), ${runs} runs each`);
    console.log(header);
    console.log('-'.repeat(header.length));
    for (const row of rows) {
      const zipped = `${row.zippedKB.toFixed(1)} (${row.zippedKiB.toFixed(1)})`;
      const unzipped = `${row.unzippedKB.toFixed(1)} (${row.unzippedKiB.toFixed(1)})`;
      const { median: med, min, max } = row.coldLoadMs;
      console.log(
        `${row.function.padEnd(18)} ${zipped.padStart(17)} ${unzipped.padStart(19)} ${med.toFixed(1).padStart(10)} ${min.toFixed(1).padStart(7)} ${max.toFixed(1).padStart(7)} ${row.cpuMs.median.toFixed(1).padStart(7)}  ${row.flags.length > 0 ? `!! ${row.flags.join('; ')}` : 'ok'}`,
      );
    }
    console.log('cpu ms: median user + system CPU of the child during the require (all threads)');
    const preempted = rows.filter((row) => row.coldLoadMs.median > 1.25 * row.cpuMs.median);
    if (preempted.length > 0) {
      console.log(
        `note: wall time ≫ CPU time for ${preempted.map((row) => row.function).join(', ')}: the children waited for the CPU or disk, the load times are inflated, and their bound is judged by the CPU time`,
      );
    }
    const flagged = rows.filter((row) => row.flags.length > 0);
    console.log(
      flagged.length > 0
        ? `\n${flagged.length} of ${rows.length} functions flagged (bounds: zip < ${kb(MAX_ZIP_BYTES)} KB, cold load < ${MAX_COLD_LOAD_MS} ms)`
        : `\nall ${rows.length} functions within bounds (zip < ${kb(MAX_ZIP_BYTES)} KB, cold load < ${MAX_COLD_LOAD_MS} ms)`,
    );

    if (values.check) {
      if (flagged.length > 0) process.exitCode = 1;
      return;
    }
    mkdirSync(dirname(resultsFile), { recursive: true });
    const result = {
      when: new Date().toISOString(),
      node: process.version,
      runs,
      machine: { cpus: availableParallelism(), loadAverageAtStart },
      packaged: packageMs === undefined ? false : { command: `npx ${PACKAGE_ARGS.join(' ')}`, ms: packageMs },
      bounds: { maxZipBytes: MAX_ZIP_BYTES, maxColdLoadMs: MAX_COLD_LOAD_MS },
      childEnv: CHILD_ENV,
      functions: rows,
    };
    writeFileSync(resultsFile, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`written: ${relative(root, resultsFile)}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
