/**
 * `npm run test:deployed`: the "as deployed" tier (docs/deploy.md, "What CI proves"). Run inside
 * `scripts/localstack-host.sh run` with the services a deploy needs (LocalStack on 127.0.0.1:$LOCALSTACK_PORT, its
 * Lambda creating functions without Docker: localstack/lambda_without_runtime.py).
 *
 * 1. Stores the credentials as docs/deploy.md, step 3, says, and deploys as step 5 says: `osls deploy`, the guide's
 *    command word for word, against LocalStack's CloudFormation (osls-deploy.ts). The stack must complete with no
 *    failed event.
 * 2. Reads the resources back from each service and compares them with the template (read-back.ts).
 * 3. Runs each deployed function, as Lambda holds it (its code, handler, environment, memory and timeout), under the
 *    Lambda Runtime Interface Emulator with the Node runtime interface client on Node 22 (scripts/deployed-tools.sh).
 * 4. Puts a gateway stand-in in front (the template's API resources, methods and gateway responses), and delivers
 *    the bucket's notifications, as CloudFormation configured them, to the archiver (s3-notifications.ts), with the
 *    failure queue CloudFormation created.
 * 5. Runs test/integration/protocol.test.ts unchanged, test/deployed/*.test.ts and the operator's smoke test
 *    (`npm run smoke`) through it.
 * 6. Checks every AWS call each function made against its role (iam-check.ts), and each function's peak memory
 *    against its MemorySize. Any failure, a denied call, an unexplained unused grant or a missing tool fails the tier.
 * 6. Reads the EMF documents of the functions' logs: each must follow the specification, and every metric the
 *    template's dashboard plots must be one of them (dashboard-check.ts).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { IAMClient } from '@aws-sdk/client-iam';
import { GetFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { openPromise } from 'yauzl';
import type { LambdaHttpHandler } from '../../lib/http/handler';
import { routeOf } from '../../lib/local/routes';
import { createLocalServer } from '../../lib/local/server';
import {
  destinationsTheRoleCannotReach,
  privateApiPolicyProblems,
  s3TargetsWithoutPermission,
} from '../deploy/aws-refusals';
import { type AwsCall, type Recorder, startRecorder } from './aws-recorder';
import { dashboardBody, emittedInLogs, notEmitted, plottedMetrics } from './dashboard-check';
import { deployedFunctions } from './deployed-functions';
import { checkCalls } from './iam-check';
import { type EmulatorOptions, LambdaEmulator, type Tools } from './lambda-emulator';
import { type Deployment, guideDeployCommand, isComplete, oslsDeploy, stackOutcome } from './osls-deploy';
import { NOT_APPLIED, readBack } from './read-back';
import { type NotificationBridge, startNotificationBridge } from './s3-notifications';
import { DeployedTemplate } from './template';

const root = join(__dirname, '../..');
/**
 * Added to the guide's deploy command: a short credentials TTL, so that rotation.test.ts rotates the password in
 * seconds (the guide's default is 300).
 */
const CREDENTIALS_TTL_SECONDS = '2';
const LOCALSTACK_PORT = Number(process.env.LOCALSTACK_PORT ?? 4566);
const LOCALSTACK = `http://127.0.0.1:${LOCALSTACK_PORT}`;
/** LocalStack's documented test keys: not secrets. */
const TEST_KEYS = { accessKeyId: 'test', secretAccessKey: 'test' };

function say(message: string): void {
  console.log(`test:deployed: ${message}`);
}

async function tools(): Promise<Tools> {
  let out: string;
  try {
    out = (await promisify(execFile)('bash', [join(root, 'scripts/deployed-tools.sh')], { maxBuffer: 1 << 20 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string };
    throw new Error(`the tier's tools are missing and could not be built:\n${e.stderr ?? err}`);
  }
  const value = (name: string): string => {
    const found = new RegExp(`^${name}=(.*)$`, 'm').exec(out)?.[1];
    if (!found) throw new Error(`scripts/deployed-tools.sh printed no ${name}`);
    return found.replace(/^'|'$/g, '');
  };
  return { node22: value('NODE22'), ric: value('RIC'), rie: value('RIE') };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

async function unzip(zipPath: string, into: string): Promise<void> {
  const zip = await openPromise(zipPath, { lazyEntries: true });
  for await (const entry of zip.eachEntry()) {
    const target = join(into, ...entry.fileName.split('/'));
    if (entry.fileName.endsWith('/')) continue;
    mkdirSync(dirname(target), { recursive: true });
    await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(target));
  }
}

/**
 * The ReCodEx side of the wire: adds the configured Basic credentials to every request, as the API and workers do
 * (preemptively, docs/protocol.md §5), and sends a body only after `100 Continue`, as libcurl does for large uploads, so
 * an answer the gateway gives before reading the body (413) arrives instead of a reset connection.
 */
async function clientProxy(target: string, credentials: string): Promise<Server> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const headers = { ...req.headers };
    headers.authorization ??= `Basic ${Buffer.from(credentials).toString('base64')}`;
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody) headers.expect = '100-continue';
    const upstream = request(
      { host: to.hostname, port: to.port, method: req.method, path: req.url, headers },
      (answer) => {
        // An answer before the whole body was sent (413): the rest is read and dropped first, and the answer goes
        // back after it, so the client is never reset while it is still writing.
        const { connection: _, ...headers } = answer.headers;
        const reply = () => {
          res.writeHead(answer.statusCode ?? 502, headers);
          answer.pipe(res);
        };
        if (req.complete) reply();
        else {
          req.once('end', reply);
          req.resume();
        }
      },
    );
    upstream.on('error', () => res.destroy());
    if (hasBody) upstream.on('continue', () => req.pipe(upstream));
    else req.pipe(upstream);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return server;
}

const url = (server: Server): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
}

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
    invokePort: await freePort(),
    runtimeApiPort: await freePort(),
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
  const found = await tools();
  say(`tools: ${found.rie}, ${found.node22}, ${found.ric}`);

  const command = await guideDeployCommand();
  command.args.push(`--param=credentialsTtlSeconds=${CREDENTIALS_TTL_SECONDS}`);
  command.params.credentialsTtlSeconds = CREDENTIALS_TTL_SECONDS;
  const region = command.region;
  const client = { endpoint: LOCALSTACK, region, credentials: TEST_KEYS };
  const s3 = new S3Client({ ...client, forcePathStyle: true });
  const ssm = new SSMClient(client);
  const sqs = new SQSClient(client);
  const cloudFormation = new CloudFormationClient(client);
  const lambda = new LambdaClient(client);
  const apiGateway = new APIGatewayClient(client);
  const iam = new IAMClient(client);
  let deployment: Deployment | undefined;
  let work: string | undefined;
  const emulators = new Map<string, LambdaEmulator>();
  const recorders: Recorder[] = [];
  let gateway: Server | undefined;
  let proxy: Server | undefined;
  let bridge: NotificationBridge | undefined;
  let control: Server | undefined;
  const calls: AwsCall[] = [];
  const functionClients: SQSClient[] = [];
  try {
    // docs/deploy.md, step 3: the credentials, a SecureString named by the guide's credentialsParameter.
    const parameter = command.params.credentialsParameter;
    if (!parameter) throw new Error("the guide's deploy command passes no credentialsParameter");
    const credentials = `re:${randomBytes(12).toString('base64url')}`;
    await ssm.send(
      new PutParameterCommand({ Name: parameter, Type: 'SecureString', Value: credentials, Overwrite: true }),
    );

    // docs/deploy.md, step 5: the guide's `npx osls deploy`, into LocalStack's CloudFormation.
    say(`osls ${command.args.join(' ')} (AWS_ENDPOINT_URL=${LOCALSTACK})`);
    deployment = await oslsDeploy(command, LOCALSTACK);
    if (deployment.code !== 0 || !deployment.template) {
      throw new Error(`osls deploy failed after ${deployment.seconds.toFixed(1)} s:\n${deployment.output}`);
    }
    const stackName = `recodex-fileserver-${command.stage}`;
    const stack = await stackOutcome(cloudFormation, stackName);
    say(
      `osls deploy took ${deployment.seconds.toFixed(1)} s: stack ${stackName} ${stack.status}, ` +
        `${stack.resources.size} resources, ${stack.events.length} events, ${stack.failed.length} failed`,
    );
    if (!isComplete(stack)) {
      for (const e of stack.failed) say(`  ${e.LogicalResourceId} ${e.ResourceStatus}: ${e.ResourceStatusReason}`);
      throw new Error(`the stack did not complete cleanly (${stack.status}, ${stack.failed.length} failed events)`);
    }

    // The resources as each service holds them, against the template (resolved for LocalStack's account).
    const archiverArn = stack.resources.get('ArchiverLambdaFunction')?.PhysicalResourceId ?? '';
    const accountId = (
      await lambda.send(new GetFunctionCommand({ FunctionName: archiverArn }))
    ).Configuration?.FunctionArn?.split(':')[4];
    if (!accountId) throw new Error("cannot tell LocalStack's account id from the deployed archiver");
    const account = { region, accountId, partition: 'aws', stage: command.stage };
    const template = new DeployedTemplate(deployment.template, account);
    const compared = await readBack(template, stack, { s3, lambda, apiGateway, sqs, iam }, deployment.dir);
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

    // The functions as Lambda holds them, each under the emulator.
    work = await mkdtemp(join(tmpdir(), 'fileserver-deployed-'));
    const logDir = join(work, 'logs');
    mkdirSync(logDir, { recursive: true });
    const deployed = await deployedFunctions(template, lambda, work);
    const functions = deployed.map((d) => d.spec);
    // One access key per function: the recorder tells the functions' calls apart by it.
    const keys = new Map(
      functions.map((spec, index) => [`TIER${String(index).padStart(4, '0')}${spec.logicalId}`, spec.logicalId]),
    );
    const recorder = await startRecorder(keys, { host: '127.0.0.1', port: LOCALSTACK_PORT, ...account }, calls);
    recorders.push(recorder);
    for (const [accessKeyId, logicalId] of keys) {
      const { spec, zipPath } = deployed.find((d) => d.spec.logicalId === logicalId) as (typeof deployed)[number];
      const taskRoot = join(work, 'tasks', spec.logicalId);
      await unzip(zipPath, taskRoot);
      const emulator = new LambdaEmulator({
        spec,
        tools: found,
        taskRoot,
        region,
        accessKeyId,
        endpointUrl: recorder.endpoint,
        invokePort: await freePort(),
        runtimeApiPort: await freePort(),
        logFile: join(logDir, `${spec.logicalId}.log`),
      });
      await emulator.start();
      emulators.set(spec.logicalId, emulator);
    }
    say(`${emulators.size} functions under the emulator (logs: ${logDir})`);
    const status = emulators.get('StatusLambdaFunction')?.options;
    if (!status) throw new Error('the template has no StatusLambdaFunction');
    const initFailure = await badSettingFailsInit(status, join(logDir, 'StatusLambdaFunction-bad-setting.log'));
    if (initFailure) failures.push(initFailure);
    else say('a bad setting fails the init of the deployed function, naming it');

    // The gateway stand-in, from the template's routes and gateway responses.
    const handlers: Record<string, LambdaHttpHandler> = {};
    for (const [id, emulator] of emulators) {
      handlers[id] = async (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => {
        const answer = await emulator.invoke(event);
        if (answer.functionError) throw new Error(`${id} failed: ${answer.payload.slice(0, 500)}`);
        return JSON.parse(answer.payload) as APIGatewayProxyResult;
      };
    }
    const routes = template.routes().map((r) => routeOf(r.resource, r.method, r.functionLogicalId));
    // The unknown-route answer is the template's gateway response. Oversized bodies keep the local model's answers
    // (lib/local/server.ts): for PUT /results it answers result-too-large, where the template's REQUEST_TOO_LARGE
    // response (every path) says payload-too-large; docs/deploy.md lists the difference.
    const unknownRoute = template.gatewayResponse('MISSING_AUTHENTICATION_TOKEN');
    if (!unknownRoute) throw new Error('the template has no MISSING_AUTHENTICATION_TOKEN gateway response');
    gateway = createLocalServer({ routes, handlers, stage: command.stage, unknownRoute });
    await new Promise<void>((done) => gateway?.listen(0, '127.0.0.1', done));
    proxy = await clientProxy(url(gateway), credentials);
    const keyOf = new Map([...keys].map(([key, id]) => [id, key]));
    // The bucket and its notification configuration as CloudFormation created them (the FilesBucketName output).
    const bucket = stack.outputs.FilesBucketName;
    if (!bucket) throw new Error('the stack has no FilesBucketName output');
    bridge = await startNotificationBridge(
      s3,
      sqs,
      bucket,
      deployed.map((d) => ({
        logicalId: d.spec.logicalId,
        arn: d.arn,
        emulator: emulators.get(d.spec.logicalId) as LambdaEmulator,
        asyncInvoke: d.asyncInvoke,
      })),
      (id) => {
        const signer = new SQSClient({
          endpoint: recorder.endpoint,
          region,
          credentials: { accessKeyId: keyOf.get(id) as string, secretAccessKey: 'test' },
        });
        functionClients.push(signer);
        return signer;
      },
    );
    // For the tests: GET /idle answers once no S3 notification is queued or being handled (TestStack.notificationsIdle).
    const notifications = bridge;
    control = createServer((req, res) => {
      if (req.url !== '/idle') return void res.writeHead(404).end();
      notifications.idle().then(
        () => res.writeHead(204).end(),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    await new Promise<void>((done) => control?.listen(0, '127.0.0.1', done));
    say(
      `gateway ${url(gateway)} (${routes.length} routes); ready after ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );

    const code = await runJest({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_OPTIONS: '--openssl-legacy-provider',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      DEPLOYED_API_URL: url(proxy),
      DEPLOYED_GATEWAY_URL: url(gateway),
      DEPLOYED_BUCKET: bucket,
      // The tests see S3 where the functions do (the presigned URLs name it); their own calls pass unrecorded.
      DEPLOYED_S3_ENDPOINT: recorder.endpoint,
      DEPLOYED_FAILURE_QUEUE_URL: bridge.failureQueueUrl ?? '',
      DEPLOYED_LOG_DIR: logDir,
      DEPLOYED_CONTROL_URL: url(control),
      DEPLOYED_CREDENTIALS_PARAMETER: parameter,
      DEPLOYED_CREDENTIALS: credentials,
      DEPLOYED_CREDENTIALS_TTL_SECONDS: CREDENTIALS_TTL_SECONDS,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: region,
    });
    if (code !== 0) failures.push(`jest exited ${code}`);

    // The operator's smoke test (docs/deploy.md, step 7), as an operator runs it, against the gateway.
    const [username, password] = credentials.split(':') as [string, string];
    const smoke = await runSmoke(url(gateway), username, password);
    console.log(`\nnpm run smoke -- --url ${url(gateway)}\n${smoke.output}`);
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
    failures.push(...(await checkDashboard(template, logDir, functions[0]?.environment.METRICS_NAMESPACE)));

    const unmapped = calls.filter((c) => c.action.includes('unmapped'));
    for (const call of unmapped) failures.push(`${call.fn}: an AWS call the recorder cannot name: ${call.request}`);
    console.log(`\nS3 notifications: ${bridge.stats.delivered} delivered, ${bridge.stats.failed} failed every attempt`);
  } finally {
    await closeServer(control);
    await bridge?.close();
    await closeServer(proxy);
    await closeServer(gateway);
    await Promise.all([...emulators.values()].map((e) => e.stop()));
    await Promise.all(recorders.map((r) => r.close()));
    for (const c of [s3, ssm, sqs, cloudFormation, lambda, apiGateway, iam, ...functionClients]) c.destroy();
    if (failures.length === 0) {
      await deployment?.close();
      if (work) await rm(work, { recursive: true, force: true });
    } else {
      if (deployment) say(`kept ${deployment.dir} (what osls deployed, under .serverless/)`);
      if (work) say(`kept ${work} (function logs under logs/)`);
    }
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
