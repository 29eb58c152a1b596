/**
 * The operator tool: `npm run fileserver -- <command> [options]` (docs/operations.md). It runs with the service's
 * own settings (BUCKET, S3_ENDPOINT, the AWS credentials), so it works against AWS, LocalStack and the embedded store
 * alike, and it writes through the same lib/ code as the handlers.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ArchiveLayout, config, loadConfig } from '../config';
import { CONFIG_SETTINGS, LOCAL_BUCKET } from '../settings';
import { FolderStore } from '../storage/folder-store/folder-store';
import { bucketReachable, useStore } from '../storage/store';
import { gc, KeepListError } from './gc';
import type { CommandResult, Io, StopSignal } from './io';
import { migrate } from './migrate';
import { DEFAULT_CONCURRENCY, DEFAULT_GC_AGE_DAYS, parseCommandLine, UsageError } from './options';
import { stats } from './stats';
import { verify } from './verify';

export const USAGE = `Usage: npm run fileserver -- <command> [options]

Commands:
  migrate --from DIR     copy an old fileserver's storage folder into the bucket
          [--dry-run]    only report what would be copied
  verify  [--repair]     re-hash exercise files, check manifests and archives; --repair builds stale or missing archives
  stats                  objects and bytes per prefix, submissions, archives current, stale or missing
  gc --keep FILE         delete exercise files whose hash FILE does not list (one per line)...
     [--older-than DAYS] ...and that are older than DAYS, 0 to 36500 (default 30)
     [--yes]             really delete (without it, only report what would go)

Options of every command:
  --concurrency N        objects in flight, 1 to 256 (default 8)
  --directory DIR        use the embedded store kept in DIR (what \`npm start -- --directory DIR\` serves)
  --layout L             archive layout to check and build: prefixed or flat (default: ARCHIVE_LAYOUT or prefixed)
  --report FILE          write the JSON report to FILE (default: fileserver-<command>-<time>.json here)
  --json                 print the JSON report instead of the summary (and write no file unless --report)
  --quiet                no progress output
  --help

Settings come from the environment, as for the service: BUCKET, S3_ENDPOINT (LocalStack, MinIO), AWS_REGION,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or any other AWS credentials source), ARCHIVE_LAYOUT, MAX_UPLOAD_BYTES.

Exit status: 0 all well; 1 something was refused, failed or found wrong (see the report); 2 bad usage or settings,
or the bucket cannot be reached; 130 stopped by Ctrl-C (run it again: every command can be repeated safely).`;

/** The local server's HTTP credentials (their row of lib/settings.ts), which the tool neither needs nor checks. */
const HTTP_ONLY_SETTINGS = CONFIG_SETTINGS.credentials.names;

/** Runs one command; returns the exit status. Never calls process.exit, so tests can run it in-process. */
export async function runOperator(
  argv: readonly string[],
  io: Io,
  stop: StopSignal = { stopped: false },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let folder: FolderStore | undefined;
  // The tool serves no HTTP: the local server's credentials are not its settings, and a half-set pair left in the
  // environment (which lib/config.ts rightly refuses for a server) must not stop it. Removed before any setting is
  // read, here and by config().
  for (const name of HTTP_ONLY_SETTINGS) delete env[name];
  try {
    const { command, options } = parseCommandLine(argv);
    if (options.help || command === undefined) {
      io.stdout.write(`${USAGE}\n`);
      return options.help ? 0 : 2;
    }
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    if (options.layout !== undefined) env.ARCHIVE_LAYOUT = options.layout;
    if (options.directory !== undefined) {
      // The folder store of local mode in DIR, as `npm start -- --directory DIR` runs it (docs/embedded-store.md).
      // Its lock admits one process: the tool refuses a folder that a running `npm start` holds.
      env.BUCKET ||= LOCAL_BUCKET;
      delete env.S3_ENDPOINT;
      try {
        folder = await FolderStore.open({ directory: options.directory, bucket: env.BUCKET });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      useStore(folder);
    }
    let layout: ArchiveLayout;
    try {
      layout = loadConfig(env).archiveLayout;
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const quiet = options.quiet || options.json;

    let run: () => Promise<CommandResult>;
    switch (command) {
      case 'migrate': {
        const from = options.from;
        if (from === undefined) throw new UsageError("migrate needs --from DIR, the old fileserver's storage folder.");
        run = () => migrate({ from, dryRun: options['dry-run'] === true, concurrency, quiet }, io, stop);
        break;
      }
      case 'verify':
        run = () => verify({ repair: options.repair === true, concurrency, layout, quiet }, io, stop);
        break;
      case 'stats':
        run = () => stats({ concurrency, layout }, io, stop);
        break;
      case 'gc': {
        const keepFile = options.keep;
        if (keepFile === undefined)
          throw new UsageError('gc needs --keep FILE, the hashes still referenced, one per line.');
        if (options.yes && options['dry-run']) throw new UsageError('gc takes --yes or --dry-run, not both.');
        const olderThanDays = options['older-than'] ?? DEFAULT_GC_AGE_DAYS;
        run = () => gc({ keepFile, olderThanDays, yes: options.yes === true, concurrency }, io, stop);
        break;
      }
    }
    if (!(await bucketReachable())) {
      throw new UsageError(
        `The bucket ${config().bucket} cannot be reached${config().s3Endpoint ? ` at ${config().s3Endpoint}` : ''}: ` +
          'check BUCKET, S3_ENDPOINT and the credentials.',
      );
    }

    const result = await run();
    const exitCode = stop.stopped ? 130 : result.exitCode;
    const json = `${JSON.stringify({ ...result.report, exitCode }, null, 2)}\n`;
    const reportPath = options.report ?? (options.json ? undefined : defaultReportPath(command, env));
    // The work is done whatever happens to the report: a report that cannot be written (its folder removed or
    // full meanwhile) is one line and exit 1 after the summary, not a stack.
    const unwritten = reportPath
      ? await writeFile(reportPath, json).then(
          () => undefined,
          (err: Error) => err,
        )
      : undefined;
    const reportLine = reportPath && !unwritten ? [`report: ${reportPath}`] : [];
    if (options.json) io.stdout.write(json);
    else io.stdout.write(`${[...result.summary, ...reportLine].join('\n')}\n`);
    if (unwritten) {
      io.stderr.write(`fileserver: the report could not be written to ${reportPath}: ${unwritten.message}\n`);
      return exitCode === 0 ? 1 : exitCode;
    }
    return exitCode;
  } catch (err) {
    if (err instanceof UsageError || err instanceof KeepListError) {
      io.stderr.write(`fileserver: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    if (folder) {
      useStore(undefined);
      await folder.close();
    }
  }
}

/** `fileserver-migrate-20261201T221500Z.json` in the folder the command was started from (npm's INIT_CWD). */
function defaultReportPath(command: string, env: NodeJS.ProcessEnv): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return resolve(env.INIT_CWD ?? process.cwd(), `fileserver-${command}-${stamp}.json`);
}
