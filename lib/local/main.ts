/**
 * `npm start`: the fileserver on http://127.0.0.1:9999 over the folder store (docs/embedded-store.md), or over the
 * S3 endpoint in S3_ENDPOINT.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { BucketMissingError } from '../errors';
import { checkBucket } from '../s3-store';
import { startHelp } from '../settings';
import { startLocalStack } from './stack';

/**
 * SIGINT (Ctrl-C) and SIGTERM (a supervisor, `kill`) stop the server and delete a temporary folder. The handlers are
 * installed before anything starts, so no signal finds the process without them (Node's default would end it with
 * the folder left behind); a signal during the start stops the server as soon as it is up.
 */
let stopRequested: string | undefined;
let onStop: ((signal: string) => void) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopRequested !== undefined) return;
    stopRequested = signal;
    onStop?.(signal);
  });
}

function stopWhenAsked(stack: { close(): Promise<void> }): void {
  onStop = (signal) => {
    console.log(`${signal}: shutting down`);
    stack.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  if (stopRequested !== undefined) onStop(stopRequested);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '9999' },
      host: { type: 'string', default: '127.0.0.1' },
      directory: { type: 'string' },
      fsync: { type: 'boolean', default: false },
      layout: { type: 'string' },
      username: { type: 'string' },
      // Declared only to refuse it by name, without echoing its value.
      password: { type: 'string' },
      'password-file': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(startHelp());
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`--port must be 0–65535, not ${values.port}`);
  if (values.layout !== undefined) process.env.ARCHIVE_LAYOUT = values.layout;
  if (values.username !== undefined) process.env.FILESERVER_USERNAME = values.username;
  if (values.password !== undefined) {
    throw new Error(
      '--password is not taken on the command line, where ps and npm show it: set FILESERVER_PASSWORD or --password-file FILE.',
    );
  }
  if (values['password-file'] !== undefined) process.env.FILESERVER_PASSWORD = readPassword(values['password-file']);

  const stack = await startLocalStack({ host: values.host, port, directory: values.directory, fsync: values.fsync });
  try {
    loadConfig(); // fail now, not at the first request, on a bad setting
    // …and on a bucket that is not there, which would otherwise fail every request with 503 bucket-missing.
    if (!stack.folderStore) await checkBucket().catch((err: unknown) => failOnMissingBucket(err, stack.s3Endpoint));
  } catch (err) {
    await stack.close();
    throw err;
  }
  const storage = stack.folderStore
    ? `the folder store, folder ${stack.directory}${values.directory ? '' : ' (deleted on exit)'}` +
      `${values.fsync ? ', fsync on' : ''}`
    : `S3 endpoint ${stack.s3Endpoint}`;
  console.log(`ReCodEx fileserver listening on ${stack.url}`);
  console.log(`storage: bucket ${stack.bucket} on ${storage}`);
  console.log('Press Ctrl-C to stop.');

  stopWhenAsked(stack);
}

function failOnMissingBucket(err: unknown, endpoint: string): never {
  if (!(err instanceof BucketMissingError)) throw err;
  throw new Error(
    `BUCKET ${err.bucket} does not exist at S3_ENDPOINT ${endpoint}. Create it first: ` +
      '`npm run localstack:host -- start` creates recodex-fileserver on LocalStack; on another endpoint, ' +
      `\`aws --endpoint-url ${endpoint} s3 mb s3://${err.bucket}\` (or set BUCKET to a bucket that exists).`,
  );
}

/** The first line of `file`, without its line ending; the error names the file, never its content. */
function readPassword(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`--password-file ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
  const password = text.split(/\r?\n/, 1)[0] ?? '';
  if (password === '') throw new Error(`--password-file ${file} holds no password on its first line.`);
  return password;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
