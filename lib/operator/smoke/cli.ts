/**
 * `npm run smoke -- --url <BaseUrl>` (docs/deploy.md, step 7). The credentials come as `npm start` takes them:
 * FILESERVER_USERNAME and FILESERVER_PASSWORD, or `--username U` with `--password-file F` (never a password on the
 * command line, where ps and npm show it). Prints one row per check with its time; exit status 0 when every check
 * passed, 1 when one failed, 2 for bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CheckResult, runSmoke, type SmokeReport } from './smoke';

export const SMOKE_USAGE = `Usage: npm run smoke -- --url <BaseUrl> [--username U --password-file F]

Checks a deployed fileserver from a machine in the VPC, right after a deploy: writes a small submission, an
exercise file and two results under its own ids (smoke-test-<time>-<random>), reads them back, checks the archive,
and follows the redirect of a result above the inline limit to storage.

  --url URL            the stack's BaseUrl output (or BaseUrlVpce…), stage included
  --username U         the fileserver's username (default: FILESERVER_USERNAME)
  --password-file F    read the password from the first line of F (default: FILESERVER_PASSWORD)
  --timeout S          seconds per request (default 30)
  --help

Exit status: 0 every check passed; 1 a check failed (each says what to look at); 2 bad usage.`;

interface Io {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

export async function runSmokeCli(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  let values: { url?: string; username?: string; 'password-file'?: string; timeout?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' },
        username: { type: 'string' },
        'password-file': { type: 'string' },
        timeout: { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    return usage(io, (err as Error).message);
  }
  if (values.help) {
    io.stdout.write(`${SMOKE_USAGE}\n`);
    return 0;
  }
  if (!values.url || !/^https?:\/\//.test(values.url)) return usage(io, 'Give the fileserver URL: --url <BaseUrl>.');
  const username = values.username ?? env.FILESERVER_USERNAME ?? '';
  let password = env.FILESERVER_PASSWORD ?? '';
  if (values['password-file'] !== undefined) {
    try {
      password = readFileSync(values['password-file'], 'utf8').split(/\r?\n/)[0] ?? '';
    } catch (err) {
      return usage(
        io,
        `--password-file ${values['password-file']} cannot be read: ${(err as NodeJS.ErrnoException).code}.`,
      );
    }
  }
  if (!username || !password) {
    return usage(
      io,
      'Give the credentials: FILESERVER_USERNAME and FILESERVER_PASSWORD, or --username and --password-file.',
    );
  }
  const timeout = values.timeout === undefined ? 30 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) return usage(io, '--timeout takes a number of seconds.');

  const report = await runSmoke({ url: values.url, username, password, timeoutMs: timeout * 1000 });
  io.stdout.write(formatReport(report));
  return report.ok ? 0 : 1;
}

function usage(io: Io, problem: string): number {
  io.stderr.write(`${problem}\n\n${SMOKE_USAGE}\n`);
  return 2;
}

/** The report as a table, one row per check with its time; a failed check's hint under it. */
export function formatReport(report: SmokeReport): string {
  const width = Math.max(...report.checks.map((c) => c.name.length));
  const time = (c: CheckResult): string => (c.ms === null ? '—' : `${Math.round(c.ms)} ms`);
  const timeWidth = Math.max(4, ...report.checks.map((c) => time(c).length));
  const lines = [
    `Smoke test of ${report.url}, id ${report.id}`,
    '',
    `${'check'.padEnd(width)}  result  ${'time'.padStart(timeWidth)}  detail`,
  ];
  for (const c of report.checks) {
    lines.push(
      `${c.name.padEnd(width)}  ${(c.ok ? 'ok' : 'FAIL').padEnd(6)}  ${time(c).padStart(timeWidth)}  ${c.detail}`,
    );
    if (c.hint) lines.push(`${' '.repeat(width + timeWidth + 12)}likely cause: ${c.hint}`);
  }
  const failed = report.checks.filter((c) => !c.ok).length;
  lines.push(
    '',
    failed === 0 ? `All ${report.checks.length} checks passed.` : `${failed} of ${report.checks.length} checks failed.`,
    '',
  );
  return lines.join('\n');
}

if (require.main === module) {
  runSmokeCli(process.argv.slice(2), process, process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`smoke: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
