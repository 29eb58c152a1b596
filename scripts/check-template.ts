/**
 * `npm run check:template`: the static checks of the generated CloudFormation template (docs/deploy.md, "What CI
 * proves"). Packages a copy of the service twice, with the default parameters and with every optional feature on
 * (alarm topic, bucket versioning, the archiver's reserved concurrency, access logs, two VPC endpoints), and runs
 * cfn-lint (with strict types: numbers must be numbers) and checkov on both templates. Any finding fails: the accepted ones are skipped, each with its reason, in
 * deploy/template-checks.yml, which the template carries as resource Metadata.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageService } from './package-service';

const run = promisify(execFile);
const root = join(__dirname, '..');

const BASE = { vpcEndpointIds: 'vpce-0123456789abcdef0', credentialsParameter: '/recodex/fileserver/credentials' };
const VARIANTS: Record<string, Record<string, string>> = {
  defaults: BASE,
  'every option': {
    ...BASE,
    vpcEndpointIds: 'vpce-0123456789abcdef0,vpce-0fedcba9876543210',
    alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:recodex-alarms',
    bucketVersioning: 'true',
    archiverReservedConcurrency: '5',
    apiAccessLogs: 'true',
    tracing: 'true',
    submissionRetentionDays: '365',
    resultRetentionDays: '365',
    refuseFoldedCollisions: 'true',
  },
};

async function tool(bin: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(join(bin, args[0] as string), args.slice(1), { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message?: string };
    if (typeof e.code !== 'number') throw new Error(`could not run ${args[0]}: ${e.message}`);
    return { code: e.code, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { stdout } = await run('bash', [join(root, 'scripts/template-check-tools.sh')]);
  const bin = stdout.trim();
  const packaged = await Promise.all(
    Object.entries(VARIANTS).map(async ([name, params]) => ({ name, result: await packageService(params) })),
  );
  let failed = false;
  try {
    for (const { name, result } of packaged) {
      if (result.code !== 0) throw new Error(`osls package (${name}) failed:\n${result.output}`);
      // Strict E3012: a string where CloudFormation types a number is an error, not something to convert silently
      // (`--param` values arrive as strings; deploy/production-template.js converts them).
      // (The template comes first: --configure-rule takes every argument after it.)
      const lint = await tool(bin, [
        'cfn-lint',
        result.templatePath,
        '--non-zero-exit-code',
        'informational',
        '--configure-rule',
        'E3012:strict=true',
      ]);
      // --skip-download: checkov would otherwise fetch guideline links from Prisma Cloud (no network in CI needed).
      const scan = await tool(bin, [
        'checkov',
        '--quiet',
        '--compact',
        '--skip-download',
        '--framework',
        'cloudformation',
        '-f',
        result.templatePath,
      ]);
      const summary = /Passed checks: \d+, Failed checks: \d+, Skipped checks: \d+/.exec(scan.output)?.[0];
      console.log(`${name}: cfn-lint ${lint.code === 0 ? 'clean' : 'FINDINGS'}; checkov ${summary ?? '(no summary)'}`);
      if (lint.code !== 0) {
        failed = true;
        console.log(lint.output);
      }
      if (scan.code !== 0) {
        failed = true;
        console.log(scan.output);
      }
    }
  } finally {
    await Promise.all(packaged.map(({ result }) => result.close()));
  }
  console.log(`check:template ${failed ? 'FAILED' : 'passed'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
