/**
 * The service deployed on this machine as `npm run test:deployed` deploys it, ready for requests: what that tier
 * tests (test/deployed/run.ts) and `npm run bench:deployed` measures (bench/deployed.ts). Runs inside
 * `scripts/localstack-host.sh run` with the services a deploy needs (LocalStack on 127.0.0.1:$LOCALSTACK_PORT).
 *
 * 1. Stores the credentials as docs/deploy.md, step 3, says, and deploys as step 5 says: `osls deploy`, the guide's
 *    command word for word, against LocalStack's CloudFormation (osls-deploy.ts). The stack must complete with no
 *    failed event.
 * 2. Runs each deployed function, as Lambda holds it (its code, handler, environment, memory and timeout), under the
 *    Lambda Runtime Interface Emulator with the Node runtime interface client on Node 22 (scripts/deployed-tools.sh).
 * 3. Puts a gateway stand-in in front (the template's API resources, methods and gateway responses), and delivers
 *    the bucket's notifications, as CloudFormation configured them, to the archiver (s3-notifications.ts), with the
 *    failure queue CloudFormation created.
 * Every AWS call of each function passes a recording proxy (aws-recorder.ts), which can also hold S3's answers.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
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
import { type AwsCall, type Recorder, type S3Exchange, startRecorder } from './aws-recorder';
import { type DeployedFunctionSpec, deployedFunctions } from './deployed-functions';
import { LambdaEmulator, type Tools } from './lambda-emulator';
import {
  type Deployment,
  type GuideCommand,
  guideDeployCommand,
  isComplete,
  oslsDeploy,
  type StackOutcome,
  stackOutcome,
} from './osls-deploy';
import { type NotificationBridge, startNotificationBridge } from './s3-notifications';
import { type Account, DeployedTemplate, type FunctionSpec } from './template';

const root = join(__dirname, '../..');
const LOCALSTACK_PORT = Number(process.env.LOCALSTACK_PORT ?? 4566);
const LOCALSTACK = `http://127.0.0.1:${LOCALSTACK_PORT}`;
/** LocalStack's documented test keys: not secrets. */
const TEST_KEYS = { accessKeyId: 'test', secretAccessKey: 'test' };

export interface DeployedStackOptions {
  /** Prefixes the progress lines (`test:deployed`, `bench:deployed`). */
  name: string;
  /** S3's latency: every S3 request a function sends is answered in rounds this long (aws-recorder.ts, `holdS3Ms`). */
  holdS3Ms?: number;
  /** Measure the init duration of every cold start (lambda-emulator.ts, `measureInit`). */
  measureInit?: boolean;
  /** Deploy parameters added to the guide's command (`--param=name=value`). */
  params?: Record<string, string>;
  /**
   * Runs right after the deploy, before anything here changes what it made (the notification bridge replaces the
   * bucket's notification configuration): test:deployed reads the resources back there.
   */
  afterDeploy?: (deployed: Deployed) => Promise<void>;
}

/** What `osls deploy` made: the guide's command, what osls deployed, the stack, the template for LocalStack's account. */
export interface Deployed {
  command: GuideCommand;
  deployment: Deployment;
  stack: StackOutcome;
  account: Account;
  template: DeployedTemplate;
  /** LocalStack's clients, for looking at what the deploy made (their calls pass unrecorded). */
  clients: { s3: S3Client; lambda: LambdaClient; apiGateway: APIGatewayClient; sqs: SQSClient; iam: IAMClient };
}

export interface DeployedStack extends Deployed {
  deployed: DeployedFunctionSpec[];
  functions: FunctionSpec[];
  emulators: Map<string, LambdaEmulator>;
  /** The gateway stand-in: requests need the Basic credentials (`authorization`). */
  gatewayUrl: string;
  /** A client-side proxy to the gateway that adds the credentials and sends bodies after 100 Continue, as libcurl. */
  clientUrl: string;
  /** The SSM parameter the functions read the credentials from (docs/deploy.md, step 3). */
  credentialsParameter: string;
  /** `username:password`, and the `Authorization` header they make. */
  credentials: string;
  authorization: string;
  bucket: string;
  /** Where the functions' S3 is (the recorder in front of LocalStack): presigned URLs name it. */
  s3Endpoint: string;
  bridge: NotificationBridge;
  /** For tests: GET /idle answers once no S3 notification is queued or being handled. */
  controlUrl: string;
  /** Every AWS call of the functions, and every S3 request a function sent itself with its answer's time. */
  calls: AwsCall[];
  exchanges: S3Exchange[];
  logDir: string;
  say(message: string): void;
  /** Stops everything; keeps what was deployed and the functions' logs when `keep` is set. */
  close(keep: boolean): Promise<void>;
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
async function clientProxy(target: string, authorization: string): Promise<Server> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const headers = { ...req.headers };
    headers.authorization ??= authorization;
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

export async function startDeployedStack(options: DeployedStackOptions): Promise<DeployedStack> {
  const started = Date.now();
  const say = (message: string): void => console.log(`${options.name}: ${message}`);
  const found = await tools();
  say(`tools: ${found.rie}, ${found.node22}, ${found.ric}`);

  const command = await guideDeployCommand();
  for (const [name, value] of Object.entries(options.params ?? {})) {
    command.args.push(`--param=${name}=${value}`);
    command.params[name] = value;
  }
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
  const exchanges: S3Exchange[] = [];
  const functionClients: SQSClient[] = [];
  const close = async (keep: boolean): Promise<void> => {
    await closeServer(control);
    await bridge?.close();
    await closeServer(proxy);
    await closeServer(gateway);
    await Promise.all([...emulators.values()].map((e) => e.stop()));
    await Promise.all(recorders.map((r) => r.close()));
    for (const c of [s3, ssm, sqs, cloudFormation, lambda, apiGateway, iam, ...functionClients]) c.destroy();
    if (!keep) {
      await deployment?.close();
      if (work) await rm(work, { recursive: true, force: true });
    } else {
      if (deployment) say(`kept ${deployment.dir} (what osls deployed, under .serverless/)`);
      if (work) say(`kept ${work} (function logs under logs/)`);
    }
  };
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

    // The template resolved for LocalStack's account.
    const archiverArn = stack.resources.get('ArchiverLambdaFunction')?.PhysicalResourceId ?? '';
    const accountId = (
      await lambda.send(new GetFunctionCommand({ FunctionName: archiverArn }))
    ).Configuration?.FunctionArn?.split(':')[4];
    if (!accountId) throw new Error("cannot tell LocalStack's account id from the deployed archiver");
    const account = { region, accountId, partition: 'aws', stage: command.stage };
    const template = new DeployedTemplate(deployment.template, account);
    const clients = { s3, lambda, apiGateway, sqs, iam };
    await options.afterDeploy?.({ command, deployment, stack, account, template, clients });

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
    const recorder = await startRecorder(keys, { host: '127.0.0.1', port: LOCALSTACK_PORT, ...account }, calls, {
      holdS3Ms: options.holdS3Ms ?? 0,
      exchanges,
    });
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
        logFile: join(logDir, `${spec.logicalId}.log`),
        measureInit: options.measureInit ?? false,
      });
      await emulator.start();
      emulators.set(spec.logicalId, emulator);
    }
    say(`${emulators.size} functions under the emulator (logs: ${logDir})`);

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
    const authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    proxy = await clientProxy(url(gateway), authorization);
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
    return {
      command,
      deployment,
      stack,
      account,
      template,
      clients,
      deployed,
      functions,
      emulators,
      gatewayUrl: url(gateway),
      clientUrl: url(proxy),
      credentialsParameter: parameter,
      credentials,
      authorization,
      bucket,
      s3Endpoint: recorder.endpoint,
      bridge,
      controlUrl: url(control),
      calls,
      exchanges,
      logDir,
      say,
      close,
    };
  } catch (err) {
    await close(true);
    throw err;
  }
}
