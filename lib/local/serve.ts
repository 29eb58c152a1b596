/**
 * The server of `npm start` in this process: the local stack (lib/local/stack.ts) with the start checks, either
 * alone (`--workers 1`) or as one worker of lib/local/cluster.ts's primary. Loaded only where it serves: the primary
 * of several workers never loads the handlers or the AWS SDK.
 */
import { loadConfig } from '../config';
import { BucketMissingError } from '../errors';
import { checkBucket } from '../storage/s3/s3-store';
import { logEveryLineWith } from '../util/log';
import { type LocalStack, startLocalStack } from './stack';

export interface ServeOptions {
  host: string;
  port: number;
  directory: string | undefined;
  fsync: boolean;
  /** The pid of the primary this process is a worker of: it holds the folder. */
  workerOf?: number;
}

/** Starts the stack and checks what would otherwise fail the first request; a failed check closes it again. */
export async function serve(options: ServeOptions): Promise<LocalStack> {
  const stack = await startLocalStack({
    host: options.host,
    port: options.port,
    directory: options.directory,
    fsync: options.fsync,
    ...(options.workerOf !== undefined ? { workerOf: options.workerOf } : {}),
  });
  try {
    loadConfig(); // fail now, not at the first request, on a bad setting
    // …and on a bucket that is not there, which would otherwise fail every request with 503 bucket-missing.
    if (!stack.folderStore) await checkBucket().catch((err: unknown) => failOnMissingBucket(err, stack.s3Endpoint));
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}

function failOnMissingBucket(err: unknown, endpoint: string): never {
  if (!(err instanceof BucketMissingError)) throw err;
  throw new Error(
    `BUCKET ${err.bucket} does not exist at S3_ENDPOINT ${endpoint}. Create it first: ` +
      '`npm run localstack:host -- start` creates recodex-fileserver on LocalStack; on another endpoint, ' +
      `\`aws --endpoint-url ${endpoint} s3 mb s3://${err.bucket}\` (or set BUCKET to a bucket that exists).`,
  );
}

/** What a worker tells its primary (lib/local/cluster.ts) once it serves. */
export interface ReadyMessage {
  type: 'ready';
  url: string;
  bucket: string;
  s3Endpoint: string;
  directory: string | undefined;
}

/**
 * One worker of a multi-process `npm start`. Ctrl-C signals the whole process group, and a supervisor may signal
 * any process: the primary alone decides, so SIGINT and SIGTERM are ignored here and the primary's `stop` message
 * closes the stack (open requests are cut, the archive builds already started finish, docs/embedded-store.md). When
 * the primary is gone (killed with SIGKILL), the IPC channel closes and Node's cluster module ends this process at
 * once (lib/internal/cluster/child.js: an unexpected disconnect exits the worker).
 */
export async function runWorker(options: ServeOptions): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
  // The workers share the primary's stdout: each line says which one wrote it.
  logEveryLineWith({ worker: process.pid });
  let stack: LocalStack | undefined;
  process.on('message', (message: { type?: string } | null) => {
    if (message?.type !== 'stop') return;
    // Stopped while starting (a replacement, when the server stops): it has served nothing, and holds nothing.
    if (!stack) process.exit(0);
    stack.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
  stack = await serve(options);
  const ready: ReadyMessage = {
    type: 'ready',
    url: stack.url,
    bucket: stack.bucket,
    s3Endpoint: stack.s3Endpoint,
    directory: stack.directory,
  };
  process.send?.(ready);
}
