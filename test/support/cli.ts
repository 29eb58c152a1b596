/** Runs `npm start`'s entry point as a child process, as a user would, and reads the URL it prints. */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export interface RunningServer {
  url: string;
  output: () => string;
  /** Sends SIGINT (Ctrl-C) and waits for the exit code. */
  stop(): Promise<number | null>;
  child: ChildProcess;
}

const root = join(__dirname, '../..');

/**
 * `npm start`'s own command (package.json: `node --require tsx/cjs lib/local/main.ts`), so the signals a test sends
 * reach the server itself. Through the `tsx` wrapper they did not: it relays a SIGINT and, if the server does not
 * confirm it within 30 ms, kills it and exits 130, which a loaded machine made a failing `stop()` now and then.
 */
export async function startCli(args: string[], env: Record<string, string> = {}): Promise<RunningServer> {
  const main = join(root, 'lib/local/main.ts');
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', main, '--port', '0', ...args], {
    cwd: root,
    env: {
      ...process.env,
      NODE_OPTIONS: '--openssl-legacy-provider',
      LOG_LEVEL: 'silent',
      S3_ENDPOINT: '',
      BUCKET: '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 20 s:\n${output}`)), 20_000);
    const check = (): void => {
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1] && output.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening:\n${output}`));
    });
  });
  return {
    url,
    output: () => output,
    child,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGINT');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}
