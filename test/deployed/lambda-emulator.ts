/**
 * One packaged function under the AWS Lambda Runtime Interface Emulator, with the Node runtime interface client on
 * Node 22: the way the nodejs22.x runtime starts it. The environment is built from nothing: what the template gives
 * the function, what Lambda itself sets (AWS Lambda developer guide, "Defined runtime environment variables"), and
 * one addition that AWS does not have, AWS_ENDPOINT_URL, which sends the SDK's calls to the function's recording
 * proxy in front of LocalStack. Nothing of the machine's environment leaks in (no NODE_OPTIONS of npm, no AWS_*).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { freePort } from '../support/free-port';
import type { FunctionSpec } from './template';

export interface Tools {
  node22: string;
  ric: string;
  rie: string;
}

export interface EmulatorOptions {
  spec: FunctionSpec;
  tools: Tools;
  taskRoot: string;
  region: string;
  /** The function's own access key id (LocalStack accepts any, with the secret `test`). */
  accessKeyId: string;
  endpointUrl: string;
  logFile: string;
  /**
   * Measure each cold start's init duration (`initMs`): the emulator reports none of its own (its "Init Duration" is
   * the time to start the runtime process, not to initialise it), so the runtime is pointed at a proxy of the runtime
   * API, which sees when it first asks for an invocation, that is when its init is done.
   */
  measureInit?: boolean;
}

export interface InvokeResult {
  payload: string;
  /** Set when the function threw (Lambda's X-Amz-Function-Error: Unhandled). */
  functionError: boolean;
  /** The invocation's request id, which its `REPORT` line names. */
  requestId: string;
}

/**
 * The emulator's `REPORT` line of one invocation, as Lambda writes it to CloudWatch Logs. Duration, billed duration
 * (the duration rounded up to the millisecond) and init duration are the emulator's own measurements; its "Max Memory
 * Used" is only the memory size (the emulator's source says it has no clean way to measure it), so it is not read:
 * `peakMemoryMb` measures the process instead.
 */
export interface Report {
  requestId: string;
  durationMs: number;
  billedMs: number;
  memorySizeMb: number;
  /** Only on an instance's first invocation (a cold start). */
  initMs?: number;
}

/** Parses a `REPORT RequestId: … Duration: 1.23 ms Billed Duration: 2 ms …` line. */
export function parseReport(line: string): Report | undefined {
  const requestId = /^REPORT RequestId: (\S+)/.exec(line)?.[1];
  if (!requestId) return undefined;
  const field = (name: string): number | undefined => {
    const value = new RegExp(`(?:^|\\t)${name}: ([\\d.]+) (?:ms|MB)`).exec(line)?.[1];
    return value === undefined ? undefined : Number(value);
  };
  const durationMs = field('Duration');
  const billedMs = field('Billed Duration');
  const memorySizeMb = field('Memory Size');
  if (durationMs === undefined || billedMs === undefined || memorySizeMb === undefined) return undefined;
  const initMs = field('Init Duration');
  return { requestId, durationMs, billedMs, memorySizeMb, ...(initMs === undefined ? {} : { initMs }) };
}

export class LambdaEmulator {
  private process: ChildProcess | undefined;
  /** Lambda runs one invocation per execution environment at a time; further ones wait here, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  invocations = 0;
  /** The request id of every invocation, in order (`report` finds each one's REPORT line). */
  readonly requestIds: string[] = [];
  private readonly reports = new Map<string, Report>();
  private readonly waiting = new Map<string, (report: Report) => void>();
  private runtimeProxy: Server | undefined;
  /** When the first invocation since the start was sent, and when the runtime first asked for one. */
  private coldInvokeAt: number | undefined;
  private readyAt: number | undefined;
  /** The init duration of every cold start so far (with `measureInit`), in ms. */
  readonly initMs: number[] = [];

  /** Where the running emulator listens (start chooses them). */
  private ports = { invoke: 0, runtimeApi: 0 };

  constructor(readonly options: EmulatorOptions) {}

  environment(): NodeJS.ProcessEnv {
    const { spec, taskRoot, region, tools } = this.options;
    return {
      ...spec.environment,
      _HANDLER: spec.handler,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime}`,
      AWS_LAMBDA_FUNCTION_NAME: spec.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMb),
      AWS_LAMBDA_FUNCTION_TIMEOUT: String(spec.timeoutSeconds),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: 'deployed-tier',
      // The role's temporary credentials in AWS; LocalStack accepts these and checks signatures with them.
      AWS_ACCESS_KEY_ID: this.options.accessKeyId,
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_SESSION_TOKEN: `deployed-tier-${spec.logicalId}`,
      LAMBDA_TASK_ROOT: taskRoot,
      LAMBDA_RUNTIME_DIR: dirname(tools.ric),
      NODE_PATH: taskRoot, // the runtime's own SDK copy is not here: the bundles must carry everything they use
      PATH: `${dirname(tools.node22)}:/usr/local/bin:/usr/bin:/bin`,
      LANG: 'en_US.UTF-8',
      TZ: ':UTC',
      // Not in AWS: the recording proxy in front of LocalStack (aws-recorder.ts).
      AWS_ENDPOINT_URL: this.options.endpointUrl,
    };
  }

  /**
   * Starts the emulator on two free ports: its HTTP invoke endpoint and the runtime API it serves the function. A
   * port is found free a moment before RIE binds it, and in between another process may take it (the tier starts
   * many emulators, servers and clients at once; RIE then panics with "address already in use"), so a start whose
   * bind fails is tried again on other ports, up to 5 times. A start that fails stops what it started (the emulator,
   * the runtime API proxy), so that nothing of it keeps the caller's process alive.
   */
  async start(): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        const ports = { invoke: await freePort(), runtimeApi: await freePort() };
        if (await this.startOn(ports)) return;
        const { spec, logFile } = this.options;
        if (attempt === 5)
          throw new Error(`${spec.logicalId}: the emulator found its ports taken 5 times (${logFile})`);
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Starts the emulator on `ports`: false if one was taken, an error if it failed otherwise. */
  private async startOn(ports: { invoke: number; runtimeApi: number }): Promise<boolean> {
    const { tools, taskRoot, spec, logFile } = this.options;
    const invokePort = ports.invoke;
    const runtimeApiPort = ports.runtimeApi;
    this.ports = ports;
    const log = createWriteStream(logFile, { flags: 'a' });
    // Both addresses always given: RIE's defaults are 0.0.0.0:8080 and 127.0.0.1:9001, shared by every instance.
    const args = [
      '--log-level',
      'error',
      '--runtime-interface-emulator-address',
      `127.0.0.1:${invokePort}`,
      '--runtime-api-address',
      `127.0.0.1:${runtimeApiPort}`,
      ...(await this.runtimeCommand()),
      tools.node22,
      tools.ric,
      spec.handler,
    ];
    this.coldInvokeAt = undefined;
    this.readyAt = undefined;
    const child = spawn(tools.rie, args, { cwd: taskRoot, env: this.environment(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    let portTaken = false;
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        if (chunk.toString('utf8').includes('address already in use')) portTaken = true;
      });
    }
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const report = parseReport(line);
        if (!report) continue;
        this.reports.set(report.requestId, report);
        this.waiting.get(report.requestId)?.(report);
        this.waiting.delete(report.requestId);
      }
    });
    this.process = child;
    const exited = new Promise<void>((done) => child.once('close', () => done()));
    const deadline = Date.now() + 10_000;
    while (!(child.pid && (await listensOn(child.pid, invokePort)) && (await listensOn(child.pid, runtimeApiPort)))) {
      if (child.exitCode !== null) {
        await exited; // its output read to the end, so that a panic over a taken port is seen
        if (portTaken) return false;
        throw new Error(`${spec.logicalId}: the emulator exited (${logFile})`);
      }
      if (Date.now() > deadline) throw new Error(`${spec.logicalId}: the emulator did not listen within 10 s`);
      await new Promise((done) => setTimeout(done, 50));
    }
    return true;
  }

  /**
   * With `measureInit`, the runtime starts with AWS_LAMBDA_RUNTIME_API pointing at a proxy of the emulator's runtime
   * API (`env` sets it after the emulator did): its first `GET …/invocation/next` ends the init.
   */
  private async runtimeCommand(): Promise<string[]> {
    if (!this.options.measureInit) return [];
    if (!this.runtimeProxy) {
      this.runtimeProxy = createServer((req, res) => {
        if (req.method === 'GET' && req.url?.endsWith('/runtime/invocation/next') && this.readyAt === undefined) {
          this.readyAt = performance.now();
          if (this.coldInvokeAt !== undefined) this.initMs.push(this.readyAt - this.coldInvokeAt);
        }
        const upstream = request(
          { host: '127.0.0.1', port: this.ports.runtimeApi, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        req.pipe(upstream);
      });
      await new Promise<void>((done) => this.runtimeProxy?.listen(0, '127.0.0.1', done));
    }
    const port = (this.runtimeProxy.address() as AddressInfo).port;
    return ['/usr/bin/env', `AWS_LAMBDA_RUNTIME_API=127.0.0.1:${port}`];
  }

  invoke(event: unknown): Promise<InvokeResult> {
    const run = this.queue.then(() => this.invokeNow(event));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async invokeNow(event: unknown): Promise<InvokeResult> {
    this.invocations++;
    const requestId = randomUUID();
    this.requestIds.push(requestId);
    // The emulator starts the runtime for the first invocation: its init runs from here.
    this.coldInvokeAt ??= performance.now();
    const answer = await fetch(`http://127.0.0.1:${this.ports.invoke}/2015-03-31/functions/function/invocations`, {
      method: 'POST',
      headers: { 'X-Amzn-RequestId': requestId },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout((this.options.spec.timeoutSeconds + 30) * 1000),
    });
    const payload = await answer.text();
    if (answer.status !== 200) throw new Error(`${this.options.spec.logicalId}: invoke answered ${answer.status}`);
    return { payload, functionError: looksLikeFunctionError(payload), requestId };
  }

  /**
   * The `REPORT` line of invocation `requestId`. The emulator prints it before it answers the invocation, on another
   * channel (its stdout), so it may come a moment after the answer: waited for, at most 5 s.
   */
  report(requestId: string): Promise<Report> {
    const known = this.reports.get(requestId);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(requestId);
        reject(new Error(`${this.options.spec.logicalId}: no REPORT line for ${requestId} within 5 s`));
      }, 5_000);
      this.waiting.set(requestId, (report) => {
        clearTimeout(timer);
        resolve(report);
      });
    });
  }

  /** Starts the peak memory (`peakMemoryMb`) again from the function's current resident memory (Linux clear_refs 5). */
  async resetPeakMemory(): Promise<void> {
    const pid = this.process?.pid;
    if (!pid) return;
    for (const child of await childrenOf(pid)) await writeFile(`/proc/${child}/clear_refs`, '5').catch(() => undefined);
  }

  /** A cold start: the function's process stopped and started again; its next invocation initialises it anew. */
  async restart(): Promise<void> {
    await this.stopProcess();
    await this.start();
  }

  /** The peak resident memory of the function's Node process so far (MiB), from /proc. */
  async peakMemoryMb(): Promise<number | undefined> {
    const pid = this.process?.pid;
    if (!pid) return undefined;
    let peak: number | undefined;
    for (const child of await childrenOf(pid)) {
      const status = await readFile(`/proc/${child}/status`, 'utf8').catch(() => '');
      const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
      if (kb) peak = Math.max(peak ?? 0, kb / 1024);
    }
    return peak;
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    const proxy = this.runtimeProxy;
    this.runtimeProxy = undefined;
    if (proxy) {
      proxy.closeAllConnections();
      await new Promise((done) => proxy.close(done));
    }
  }

  private async stopProcess(): Promise<void> {
    const child = this.process;
    if (!child?.pid || child.exitCode !== null) return;
    const runtimes = await childrenOf(child.pid);
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((done) => setTimeout(done, 3_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    for (const pid of runtimes) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone with the emulator
      }
    }
  }
}

/** RIE answers a function's unhandled error with its JSON `{errorType, errorMessage, …}` as the payload. */
function looksLikeFunctionError(payload: string): boolean {
  try {
    const parsed = JSON.parse(payload) as Record<string, unknown>;
    return typeof parsed === 'object' && parsed !== null && 'errorType' in parsed && !('statusCode' in parsed);
  } catch {
    return false;
  }
}

/** The processes whose parent is `pid` (any of its threads may have started them: the emulator is a Go program). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may contain spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}

/**
 * Whether process `pid` itself listens on 127.0.0.1:`port`: the listening socket of that address in /proc/net/tcp is
 * one of its open files. A connection that succeeds would not tell it from another process that took the port.
 */
async function listensOn(pid: number, port: number): Promise<boolean> {
  const table = await readFile('/proc/net/tcp', 'utf8').catch(() => '');
  // sl local_address rem_address st … inode: 127.0.0.1 is 0100007F (little-endian hex), state 0A is LISTEN.
  const address = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set(
    table
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[1] === address && fields[3] === '0A')
      .map((fields) => `socket:[${fields[9]}]`),
  );
  if (inodes.size === 0) return false;
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  for (const fd of fds) {
    if (inodes.has(await readlink(`/proc/${pid}/fd/${fd}`).catch(() => ''))) return true;
  }
  return false;
}
