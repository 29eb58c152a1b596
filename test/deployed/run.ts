/**
 * `npm run test:deployed`: the "as deployed" tier (docs/deploy.md, "What CI proves"). Run inside
 * `scripts/localstack-host.sh run` with the services a deploy needs (LocalStack on 127.0.0.1:$LOCALSTACK_PORT, its
 * Lambda creating functions without Docker: localstack/lambda_without_runtime.py).
 *
 * 1. Deploys with the guide's own `osls deploy` into LocalStack's CloudFormation (test/deployed/stack.ts), and reads
 *    the resources back from each service right after, to compare them with the template (read-back.ts).
 * 2. Runs each deployed function, as Lambda holds it, under the Lambda Runtime Interface Emulator with the Node
 *    runtime interface client on Node 22, behind a gateway stand-in, with the bucket's notifications delivered to the
 *    archiver (stack.ts).
 * 3. Runs test/integration/protocol.test.ts unchanged, test/deployed/*.test.ts and the operator's smoke test
 *    (`npm run smoke`) through it.
 * 4. Checks every AWS call each function made against its role (iam-check.ts), and each function's peak memory
 *    against its MemorySize. Any failure, a denied call, an unexplained unused grant or a missing tool fails the tier.
 * 5. Reads the EMF documents of the functions' logs: each must follow the specification, and every metric the
 *    template's dashboard plots must be one of them (dashboard-check.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  destinationsTheRoleCannotReach,
  privateApiPolicyProblems,
  s3TargetsWithoutPermission,
} from '../deploy/aws-refusals';
import { dashboardBody, emittedInLogs, notEmitted, plottedMetrics } from './dashboard-check';
import { checkCalls } from './iam-check';
import { type EmulatorOptions, LambdaEmulator } from './lambda-emulator';
import { NOT_APPLIED, readBack } from './read-back';
import { type DeployedStack, startDeployedStack } from './stack';
import type { DeployedTemplate } from './template';

const root = join(__dirname, '../..');
/**
 * Added to the guide's deploy command: a short credentials TTL, so that rotation.test.ts rotates the password in
 * seconds (the guide's default is 300).
 */
const CREDENTIALS_TTL_SECONDS = '2';

async function runJest(env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(
    process.execPath,
    [join(root, 'node_modules/jest/bin/jest.js'), '-c', join(root, 'jest.deployed.config.js')],
    { cwd: root, env, stdio: 'inherit' },
  );
  return new Promise((done) => child.on('exit', (code) => done(code ?? 1)));
}

/**
 * The packaged function started with a bad setting fails its init (lib/config.ts checks the settings as the module
 * loads): the runtime logs an `Init Error` whose message names the variable, and the invocation fails (the emulator
 * answers 502; API Gateway answers a failed invocation 502 as well), with no answer from the handler. One function
 * stands for all, since each calls the same check as it loads, and test/unit/config-at-start.test.ts loads every
 * one. Returns what went wrong, if anything.
 */
async function badSettingFailsInit(good: EmulatorOptions, logFile: string): Promise<string | undefined> {
  const what = `${good.spec.logicalId} with INLINE_LIMIT_BYTES=abc`;
  const emulator = new LambdaEmulator({
    ...good,
    spec: { ...good.spec, environment: { ...good.spec.environment, INLINE_LIMIT_BYTES: 'abc' } },
    logFile,
  });
  let outcome: string;
  try {
    await emulator.start();
    const event = JSON.parse(readFileSync(join(root, 'test/events/apigw/status-get.json'), 'utf8')) as unknown;
    outcome = `answered ${(await emulator.invoke(event)).payload.slice(0, 300)}`;
  } catch (err) {
    outcome = String(err);
  } finally {
    await emulator.stop();
  }
  if (!outcome.endsWith('invoke answered 502')) return `${what}: ${outcome}`;
  // The log stream is written after the process ends: a few milliseconds, waited for at most 2 s.
  const initError = /Init Error.*INLINE_LIMIT_BYTES must be a positive integer/;
  for (const deadline = Date.now() + 2_000; Date.now() < deadline; await new Promise((done) => setTimeout(done, 50))) {
    if (initError.test(readFileSync(logFile, 'utf8'))) return undefined;
  }
  return `${what}: no init error naming INLINE_LIMIT_BYTES in ${logFile}`;
}

async function main(): Promise<number> {
  const started = Date.now();
  const failures: string[] = [];
  let deployedStack: DeployedStack | undefined;
  try {
    deployedStack = await startDeployedStack({
      name: 'test:deployed',
      params: { credentialsTtlSeconds: CREDENTIALS_TTL_SECONDS },
      // The resources as each service holds them, against the template (resolved for LocalStack's account), before
      // the notification bridge replaces the bucket's notification configuration.
      afterDeploy: async ({ template, stack, deployment, command, clients }) => {
        if (!deployment.template) throw new Error('osls deployed no template');
        const compared = await readBack(template, stack, clients, deployment.dir);
        console.log('\nread back from LocalStack, against the template:');
        for (const row of compared) {
          console.log(`  ${row.ok ? 'same' : 'DIFFERS'}  ${row.resource}: ${row.property}`);
          if (!row.ok) {
            console.log(`    template: ${JSON.stringify(row.expected)}\n    deployed: ${JSON.stringify(row.actual)}`);
            failures.push(`${row.resource} ${row.property} is not what the template says`);
          }
        }
        console.log(`  ${compared.filter((r) => r.ok).length} of ${compared.length} the same`);
        console.log(`  not compared, since LocalStack does not apply them: ${NOT_APPLIED.join('; ')}`);
        // What AWS refuses and LocalStack accepts, on the template that was deployed (test/deploy/aws-refusals.ts).
        const refusals = [
          ...s3TargetsWithoutPermission(deployment.template),
          ...(await destinationsTheRoleCannotReach(deployment.template)),
          // The endpoints the guide's command gives, not the template's own list.
          ...privateApiPolicyProblems(deployment.template, (command.params.vpcEndpointIds ?? '').split(',')),
        ];
        console.log(`  what AWS would refuse and LocalStack accepts: ${refusals.length === 0 ? 'nothing' : refusals}`);
        for (const refusal of refusals) failures.push(`AWS would refuse this deploy: ${refusal}`);
      },
    });
    const { template, functions, emulators, bridge, calls, say } = deployedStack;

    const status = emulators.get('StatusLambdaFunction')?.options;
    if (!status) throw new Error('the template has no StatusLambdaFunction');
    const initFailure = await badSettingFailsInit(
      status,
      join(deployedStack.logDir, 'StatusLambdaFunction-bad-setting.log'),
    );
    if (initFailure) failures.push(initFailure);
    else say('a bad setting fails the init of the deployed function, naming it');

    const code = await runJest({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_OPTIONS: '--openssl-legacy-provider',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      DEPLOYED_API_URL: deployedStack.clientUrl,
      DEPLOYED_GATEWAY_URL: deployedStack.gatewayUrl,
      DEPLOYED_BUCKET: deployedStack.bucket,
      // The tests see S3 where the functions do (the presigned URLs name it); their own calls pass unrecorded.
      DEPLOYED_S3_ENDPOINT: deployedStack.s3Endpoint,
      DEPLOYED_FAILURE_QUEUE_URL: bridge.failureQueueUrl ?? '',
      DEPLOYED_LOG_DIR: deployedStack.logDir,
      DEPLOYED_CONTROL_URL: deployedStack.controlUrl,
      DEPLOYED_CREDENTIALS_PARAMETER: deployedStack.credentialsParameter,
      DEPLOYED_CREDENTIALS: deployedStack.credentials,
      DEPLOYED_CREDENTIALS_TTL_SECONDS: CREDENTIALS_TTL_SECONDS,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: deployedStack.account.region,
    });
    if (code !== 0) failures.push(`jest exited ${code}`);

    // The operator's smoke test (docs/deploy.md, step 7), as an operator runs it, against the gateway.
    const [username, password] = deployedStack.credentials.split(':') as [string, string];
    const smoke = await runSmoke(deployedStack.gatewayUrl, username, password);
    console.log(`\nnpm run smoke -- --url ${deployedStack.gatewayUrl}\n${smoke.output}`);
    if (smoke.code !== 0) failures.push(`npm run smoke exited ${smoke.code}`);
    await bridge.idle();

    // Memory: Lambda stops a function that exceeds its MemorySize; the emulator does not, so the peak is checked.
    console.log('\nfunction              invocations  peak MB / MemorySize');
    for (const spec of functions) {
      const emulator = emulators.get(spec.logicalId) as LambdaEmulator;
      const peak = await emulator.peakMemoryMb();
      console.log(
        `${spec.logicalId.padEnd(30)} ${String(emulator.invocations).padStart(4)}  ${peak?.toFixed(0) ?? '?'} / ${spec.memoryMb}`,
      );
      if (emulator.invocations === 0) failures.push(`${spec.logicalId} was never invoked`);
      if (peak !== undefined && peak > spec.memoryMb) failures.push(`${spec.logicalId} peaked at ${peak} MB`);
    }

    const reports = await checkCalls(template, functions, calls);
    console.log('\nIAM: every AWS call of each function, simulated against its role in the template');
    for (const report of reports) {
      console.log(
        `${report.fn}: ${report.calls} calls (${report.distinct} distinct action/resource pairs), ${report.denied.length} denied`,
      );
      for (const { call, result } of report.denied) {
        console.log(`  DENIED ${call.action} ${call.resource} (${result}) — ${call.request}`);
        failures.push(`${report.fn}: ${call.action} on ${call.resource} is not allowed by its role`);
      }
      for (const { grant, reason } of report.unused) {
        console.log(`  unused grant ${grant.action} ${grant.resource}: ${reason ?? 'NOT NEEDED BY ANY CALL'}`);
        if (!reason) failures.push(`${report.fn}: ${grant.action} on ${grant.resource} is granted but never used`);
      }
    }
    failures.push(
      ...(await checkDashboard(template, deployedStack.logDir, functions[0]?.environment.METRICS_NAMESPACE)),
    );

    const unmapped = calls.filter((c) => c.action.includes('unmapped'));
    for (const call of unmapped) failures.push(`${call.fn}: an AWS call the recorder cannot name: ${call.request}`);
    console.log(`\nS3 notifications: ${bridge.stats.delivered} delivered, ${bridge.stats.failed} failed every attempt`);
  } catch (err) {
    failures.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  } finally {
    await deployedStack?.close(failures.length > 0);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (failures.length > 0) {
    console.log(`\ntest:deployed FAILED after ${seconds} s:\n- ${failures.join('\n- ')}`);
    return 1;
  }
  console.log(`\ntest:deployed passed in ${seconds} s`);
  return 0;
}

/** `npm run smoke -- --url <url>` with the credentials in the environment, as docs/deploy.md, step 7, runs it. */
async function runSmoke(target: string, username: string, password: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      join(root, 'node_modules/.bin/tsx'),
      [join(root, 'lib/operator/smoke/cli.ts'), '--url', target],
      {
        cwd: root,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          FILESERVER_USERNAME: username,
          FILESERVER_PASSWORD: password,
        },
        timeout: 600_000,
      },
    );
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? e.message ?? ''}` };
  }
}

/**
 * Every EMF document the functions wrote follows the specification, and every metric of the service's namespace that
 * the dashboard plots is one of those emitted.
 */
async function checkDashboard(
  template: DeployedTemplate,
  logDir: string,
  namespace: string | undefined,
): Promise<string[]> {
  if (!namespace) return ['the functions have no METRICS_NAMESPACE'];
  const emitted = await emittedInLogs(logDir);
  const failures = emitted.invalid.map(({ file, problems, line }) => `${file}: ${problems.join('; ')}: ${line}`);
  const distinct = new Set(emitted.metrics.map((m) => `${m.name} ${JSON.stringify(m.dimensions)}`));
  console.log(
    `\nEMF: ${emitted.documents} documents in the logs, ${emitted.invalid.length} invalid, ${distinct.size} distinct metrics`,
  );
  for (const metric of [...distinct].sort()) console.log(`  ${metric}`);
  const plotted = plottedMetrics(dashboardBody(template.resource('Dashboard').Properties.DashboardBody));
  const own = plotted.filter((p) => p.namespace === namespace);
  const missing = notEmitted(plotted, emitted.metrics, namespace);
  console.log(
    `dashboard: ${plotted.length} metrics and searches plotted, ${own.length} of ${namespace}, ${missing.length} not emitted`,
  );
  for (const p of missing) {
    failures.push(
      `the dashboard's "${p.widget}" plots ${p.name} ${JSON.stringify(p.dimensions)}, which no function emitted`,
    );
  }
  if (own.length === 0) failures.push(`the dashboard plots nothing of ${namespace}`);
  return failures;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`test:deployed FAILED: ${err instanceof Error ? (err.stack ?? err.message) : err}`);
    process.exitCode = 1;
  },
);
