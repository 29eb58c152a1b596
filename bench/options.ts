/** The command-line pieces that `npm run bench` and `npm run soak` share: numbers, and where the load goes. */
import { type ServerProcess, type ServerProcessOptions, startServerProcess } from './server-process';
import { basicAuthorization, type Target } from './workloads';

/**
 * The flags of a load run, for `parseArgs`: where the load goes (`--target`, `--user`, `--password`), how much of it
 * (`--connections`, `--duration`, `--warmup`, with each script's defaults), and the local server's `--log-level`.
 */
export function loadFlags(defaults: { connections: number; duration: number; warmup: number }) {
  return {
    target: { type: 'string' },
    user: { type: 'string' },
    password: { type: 'string' },
    connections: { type: 'string', default: String(defaults.connections) },
    duration: { type: 'string', default: String(defaults.duration) },
    warmup: { type: 'string', default: String(defaults.warmup) },
    'log-level': { type: 'string', default: 'error' },
  } as const;
}

/** A flag's value as a positive number, or a clear error that names the flag. */
export function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, not ${value}`);
  return n;
}

/** A flag's value as a number ≥ 0 (a warm-up may be switched off), or a clear error that names the flag. */
export function nonNegative(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} must be 0 or a positive number, not ${value}`);
  return n;
}

/**
 * Without `--target`, starts `npm start`'s server as a child process with Basic credentials (`re`/`codex` unless
 * given), as the workers use it; with `--target`, any server that speaks docs/protocol.md, with credentials if both
 * `--user` and `--password` are given.
 */
export async function resolveTarget(
  values: { target?: string; user?: string; password?: string },
  serverOptions: Omit<ServerProcessOptions, 'username' | 'password'> = {},
): Promise<{ target: Target; server: ServerProcess | undefined }> {
  if (values.target === undefined) {
    const username = values.user ?? 're';
    const password = values.password ?? 'codex';
    const server = await startServerProcess({ ...serverOptions, username, password });
    return { target: { url: server.url, authorization: basicAuthorization(username, password) }, server };
  }
  const { user, password } = values;
  const authorization = user !== undefined && password !== undefined ? basicAuthorization(user, password) : undefined;
  return { target: { url: values.target, authorization }, server: undefined };
}
