/**
 * `npm start`: the fileserver on http://127.0.0.1:9999 over the folder store (docs/embedded-store.md), or over the
 * S3 endpoint in S3_ENDPOINT, in this one process. This module reads the options; the server (lib/local/serve.ts) is
 * loaded only once they are good, so `--help` and a bad option answer without loading the handlers and the AWS SDK.
 * Loaded with `require`, which tsx's CommonJS hook (`npm start`: `node --require tsx/cjs`) compiles; its ESM loader
 * (`--import tsx`) costs the process a loader thread of about 25 MB (docs/embedded-store.md).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startHelp } from './options';

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

function stopWhenAsked(stop: (signal: string) => void): void {
  onStop = stop;
  if (stopRequested !== undefined) onStop(stopRequested);
}

/** Closes a stack of this process on a stop signal, then exits. */
function closeOnStop(stack: { close(): Promise<void> }): (signal: string) => void {
  return (signal) => {
    console.log(`${signal}: shutting down`);
    stack.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
}

const OPTIONS = {
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
} as const;

/** The options, or an error that names the one not understood and where the others are listed. */
function readOptions() {
  try {
    return parseArgs({ options: OPTIONS }).values;
  } catch (err) {
    if (!(err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) throw err;
    throw new Error(`${(err as Error).message}. \`npm start -- --help\` lists the options.`);
  }
}

async function main(): Promise<void> {
  const values = readOptions();
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

  const { serve } = require('./serve') as typeof import('./serve');
  const { startLines } = require('./start-lines') as typeof import('./start-lines');
  const stack = await serve({ host: values.host, port, directory: values.directory, fsync: values.fsync });
  const lines = startLines({
    url: stack.url,
    bucket: stack.bucket,
    directory: stack.directory,
    s3Endpoint: stack.s3Endpoint,
    temporary: values.directory === undefined,
    fsync: values.fsync,
  });
  for (const line of lines) console.log(line);
  stopWhenAsked(closeOnStop(stack));
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
