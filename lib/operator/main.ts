/**
 * The operator tool: `npm run fileserver -- <command> [options]` (docs/operations.md). It runs with the service's
 * own settings (BUCKET, S3_ENDPOINT, the AWS credentials), so it works against AWS, LocalStack and the embedded store
 * alike, and it writes through the same lib/ code as the handlers.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type ArchiveLayout, config, loadConfig } from '../config';
import { LOCAL_BUCKET } from '../settings';
import { FolderStore } from '../storage/folder-store/folder-store';
import { bucketReachable, useStore } from '../storage/store';
import { gc, KeepListError } from './gc';
import type { CommandResult, Io, StopSignal } from './io';
import { migrate } from './migrate';
import { isReadableFolder } from './old-layout';
import { stats } from './stats';
import { verify } from './verify';

export const USAGE = `Usage: npm run fileserver -- <command> [options]

Commands:
  migrate --from DIR     copy an old fileserver's storage folder into the bucket
          [--dry-run]    only report what would be copied
  verify  [--repair]     re-hash exercise files, check manifests and archives; --repair builds stale or missing archives
  stats                  objects and bytes per prefix, submissions, archives current, stale or missing
  gc --keep FILE         delete exercise files whose hash FILE does not list (one per line)...
     [--older-than DAYS] ...and that are older than DAYS (default 30)
     [--yes]             really delete (without it, only report what would go)

Options of every command:
  --concurrency N        objects in flight (default 8)
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

const DEFAULT_CONCURRENCY = 8;
const DEFAULT_GC_AGE_DAYS = 30;

/** A mistake in the command line or the settings: exit 2, and nothing was done. */
class UsageError extends Error {}

/** Runs one command; returns the exit status. Never calls process.exit, so tests can run it in-process. */
export async function runOperator(
  argv: readonly string[],
  io: Io,
  stop: StopSignal = { stopped: false },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let folder: FolderStore | undefined;
  try {
    const { values, positionals } = parse(argv);
    if (values.help || positionals.length === 0) {
      io.stdout.write(`${USAGE}\n`);
      return values.help ? 0 : 2;
    }
    const [command, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`Unexpected argument ${JSON.stringify(extra[0])}.`);
    const concurrency = positiveInt(values.concurrency, '--concurrency', DEFAULT_CONCURRENCY);
    if (values.layout !== undefined) env.ARCHIVE_LAYOUT = values.layout;
    if (values.directory !== undefined) {
      // The folder store of local mode in DIR, as `npm start -- --directory DIR` runs it (docs/embedded-store.md).
      // Its lock admits one process: the tool refuses a folder that a running `npm start` holds.
      env.BUCKET ||= LOCAL_BUCKET;
      delete env.S3_ENDPOINT;
      try {
        folder = await FolderStore.open({ directory: resolve(values.directory), bucket: env.BUCKET });
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
    const quiet = values.quiet || values.json;

    let run: () => Promise<CommandResult>;
    switch (command) {
      case 'migrate': {
        const from = values.from;
        if (!from) throw new UsageError("migrate needs --from DIR, the old fileserver's storage folder.");
        if (!isReadableFolder(from)) throw new UsageError(`--from ${from} is not a folder that can be read.`);
        rejectOptions(values, ['keep', 'older-than', 'yes', 'repair'], 'migrate');
        run = () => migrate({ from: resolve(from), dryRun: values['dry-run'], concurrency, quiet }, io, stop);
        break;
      }
      case 'verify':
        rejectOptions(values, ['from', 'dry-run', 'keep', 'older-than', 'yes'], 'verify');
        run = () => verify({ repair: values.repair, concurrency, layout, quiet }, io, stop);
        break;
      case 'stats':
        rejectOptions(values, ['from', 'dry-run', 'keep', 'older-than', 'yes', 'repair'], 'stats');
        run = () => stats({ concurrency, layout }, io, stop);
        break;
      case 'gc': {
        rejectOptions(values, ['from', 'repair'], 'gc');
        if (!values.keep) throw new UsageError('gc needs --keep FILE, the hashes still referenced, one per line.');
        if (values.yes && values['dry-run']) throw new UsageError('gc takes --yes or --dry-run, not both.');
        const olderThanDays = nonNegativeNumber(values['older-than'], '--older-than', DEFAULT_GC_AGE_DAYS);
        const keepFile = values.keep;
        run = () => gc({ keepFile, olderThanDays, yes: values.yes, concurrency }, io, stop);
        break;
      }
      default:
        throw new UsageError(`Unknown command ${JSON.stringify(command)}; use migrate, verify, stats or gc.`);
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
    const reportPath = values.report ?? (values.json ? undefined : defaultReportPath(command, env));
    if (reportPath) await writeFile(reportPath, json);
    if (values.json) io.stdout.write(json);
    else io.stdout.write(`${[...result.summary, ...(reportPath ? [`report: ${reportPath}`] : [])].join('\n')}\n`);
    return exitCode;
  } catch (err) {
    if (err instanceof UsageError || err instanceof KeepListError) {
      io.stderr.write(`fileserver: ${err.message}\n`);
      if (err instanceof UsageError && err.message.startsWith('Unknown option')) io.stderr.write(`\n${USAGE}\n`);
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

function parse(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        from: { type: 'string' },
        'dry-run': { type: 'boolean', default: false },
        repair: { type: 'boolean', default: false },
        keep: { type: 'string' },
        'older-than': { type: 'string' },
        yes: { type: 'boolean', default: false },
        concurrency: { type: 'string' },
        directory: { type: 'string' },
        layout: { type: 'string' },
        report: { type: 'string' },
        json: { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    // parseArgs names the option ("Unknown option '--frm'"); the usage follows.
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/, '.'));
  }
}

type Values = ReturnType<typeof parse>['values'];

function rejectOptions(values: Values, names: (keyof Values)[], command: string): void {
  for (const name of names) {
    const value = values[name];
    if (value !== undefined && value !== false) throw new UsageError(`--${name} is not an option of ${command}.`);
  }
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1 || parsed > 256) {
    throw new UsageError(`${name} must be a whole number from 1 to 256, not ${JSON.stringify(value)}.`);
  }
  return parsed;
}

function nonNegativeNumber(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) {
    throw new UsageError(`${name} must be a number of days ≥ 0, not ${JSON.stringify(value)}.`);
  }
  return parsed;
}

/** `fileserver-migrate-20261201T221500Z.json` in the folder the command was started from (npm's INIT_CWD). */
function defaultReportPath(command: string, env: NodeJS.ProcessEnv): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return resolve(env.INIT_CWD ?? process.cwd(), `fileserver-${command}-${stamp}.json`);
}
