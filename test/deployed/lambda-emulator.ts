/**
 * One packaged function under the AWS Lambda Runtime Interface Emulator, with the Node runtime interface client on
 * Node 22: the way the nodejs22.x runtime starts it. The environment is built from nothing: what the template gives
 * the function, what Lambda itself sets (AWS Lambda developer guide, "Defined runtime environment variables"), and
 * one addition that AWS does not have, AWS_ENDPOINT_URL, which sends the SDK's calls to the function's recording
 * proxy in front of LocalStack. Nothing of the machine's environment leaks in (no NODE_OPTIONS of npm, no AWS_*).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
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
  /** RIE listens here (its HTTP invoke endpoint) and serves the runtime API to the function on the next port. */
  invokePort: number;
  runtimeApiPort: number;
  logFile: string;
}

export interface InvokeResult {
  payload: string;
  /** Set when the function threw (Lambda's X-Amz-Function-Error: Unhandled). */
  functionError: boolean;
}

export class LambdaEmulator {
  private process: ChildProcess | undefined;
  /** Lambda runs one invocation per execution environment at a time; further ones wait here, in order. */
  private queue: Promise<unknown> = Promise.resolve();
  invocations = 0;

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

  async start(): Promise<void> {
    const { tools, taskRoot, spec, invokePort, runtimeApiPort, logFile } = this.options;
    const log = createWriteStream(logFile);
    // Both addresses always given: RIE's defaults are 0.0.0.0:8080 and 127.0.0.1:9001, shared by every instance.
    const args = [
      '--log-level',
      'error',
      '--runtime-interface-emulator-address',
      `127.0.0.1:${invokePort}`,
      '--runtime-api-address',
      `127.0.0.1:${runtimeApiPort}`,
      tools.node22,
      tools.ric,
      spec.handler,
    ];
    const child = spawn(tools.rie, args, { cwd: taskRoot, env: this.environment(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.process = child;
    const deadline = Date.now() + 10_000;
    while (!(await listening(invokePort))) {
      if (child.exitCode !== null) throw new Error(`${spec.logicalId}: the emulator exited (${logFile})`);
      if (Date.now() > deadline) throw new Error(`${spec.logicalId}: the emulator did not listen within 10 s`);
      await new Promise((done) => setTimeout(done, 50));
    }
  }

  invoke(event: unknown): Promise<InvokeResult> {
    const run = this.queue.then(() => this.invokeNow(event));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async invokeNow(event: unknown): Promise<InvokeResult> {
    this.invocations++;
    const answer = await fetch(
      `http://127.0.0.1:${this.options.invokePort}/2015-03-31/functions/function/invocations`,
      {
        method: 'POST',
        body: JSON.stringify(event),
        signal: AbortSignal.timeout((this.options.spec.timeoutSeconds + 30) * 1000),
      },
    );
    const payload = await answer.text();
    if (answer.status !== 200) throw new Error(`${this.options.spec.logicalId}: invoke answered ${answer.status}`);
    return { payload, functionError: looksLikeFunctionError(payload) };
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

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
