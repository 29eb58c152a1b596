/**
 * The deployment, checked without an AWS account: `osls package` runs offline and these tests read the
 * CloudFormation template it writes (shared/DESIGN.md "Auth and isolation", issue "Deployable to AWS").
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '../..');
const VPCE = 'vpce-0a1b2c3d4e5f67890';
const PARAMETER = '/recodex/test/credentials';

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  DependsOn?: unknown;
}

/** Packaging must not need credentials or a network: the environment holds no AWS settings at all. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('AWS_')) env[name] = value;
  return { ...env, HOME: process.env.HOME, SLS_TELEMETRY_DISABLED: '1' };
}

async function osls(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(join(root, 'node_modules/.bin/osls'), args, {
      cwd: root,
      env: offlineEnv(),
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

let out: string;
let resources: Record<string, Resource>;
let templateText: string;

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'fileserver-package-'));
  const packaged = await osls([
    'package',
    '--package',
    out,
    `--param=vpcEndpointIds=${VPCE}`,
    `--param=credentialsParameter=${PARAMETER}`,
  ]);
  if (packaged.code !== 0) throw new Error(`osls package failed:\n${packaged.output}`);
  templateText = await readFile(join(out, 'cloudformation-template-update-stack.json'), 'utf8');
  resources = (JSON.parse(templateText) as { Resources: Record<string, Resource> }).Resources;
}, 180_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

const ofType = (type: string): [string, Resource][] => Object.entries(resources).filter(([, r]) => r.Type === type);
const resource = (name: string): Resource => {
  const found = resources[name];
  if (!found) throw new Error(`no resource ${name}`);
  return found;
};

describe('the API', () => {
  it('is PRIVATE, reachable only through the given VPC endpoint, and passes every body as binary', () => {
    const api = resource('ApiGatewayRestApi').Properties;
    expect(api.EndpointConfiguration).toEqual({ Types: ['PRIVATE'], VpcEndpointIds: [VPCE] });
    expect(api.BinaryMediaTypes).toEqual(['*/*']);
    const statements = (api.Policy as { Statement: Json[] }).Statement;
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Principal: '*',
        Action: ['execute-api:Invoke'],
        Resource: 'execute-api:/*',
        Condition: { StringEquals: { 'aws:SourceVpce': VPCE } },
      },
    ]);
  });

  it.each([
    ['/', 'Status'],
    ['/submissions/{id+}', 'Submissions'],
    ['/submission_archives/{name+}', 'Archives'],
    ['/exercises', 'ExerciseUpload'],
    ['/tasks', 'ExerciseUpload'],
    ['/exercises/{hash+}', 'ExerciseDownload'],
    ['/tasks/{hash+}', 'ExerciseDownload'],
    ['/results/{name+}', 'Results'],
    ['/attachments/{id+}', 'Attachments'],
  ])('routes every method of %s to the %s function (so a wrong method gets its 405)', (path, fn) => {
    const methods = ofType('AWS::ApiGateway::Method').filter(([, m]) => resourcePath(m.Properties.ResourceId) === path);
    expect(methods).toHaveLength(1);
    const method = (methods[0] as [string, Resource])[1].Properties;
    expect(method.HttpMethod).toBe('ANY');
    const integration = method.Integration as Json;
    expect(integration.Type).toBe('AWS_PROXY');
    expect(JSON.stringify(integration.Uri)).toContain(`"${fn}LambdaFunction"`);
  });

  it('answers unknown paths 404 with a JSON error, and oversized bodies 413, from API Gateway itself', () => {
    const responses = ofType('AWS::ApiGateway::GatewayResponse').map(([, r]) => r.Properties);
    const unknown = responses.find((r) => r.ResponseType === 'MISSING_AUTHENTICATION_TOKEN');
    expect(unknown?.StatusCode).toBe('404');
    const templates = (unknown?.ResponseTemplates ?? {}) as Json;
    const body = JSON.parse(templates['application/json'] as string);
    expect(body).toMatchObject({ result: 'ERROR', error: { code: 'no-such-route' } });
    const tooLarge = responses.find((r) => r.ResponseType === 'REQUEST_TOO_LARGE');
    expect(tooLarge?.StatusCode).toBe('413');
    // PROTOCOL.md §7: the 413 names the large-upload route.
    const tooLargeBody = JSON.parse(((tooLarge?.ResponseTemplates ?? {}) as Json)['application/json'] as string);
    expect(tooLargeBody).toMatchObject({ result: 'ERROR', error: { code: 'payload-too-large' } });
    expect(tooLargeBody.error.message).toContain('POST /uploads/');
  });
});

describe('the bucket', () => {
  it('blocks public access, encrypts at rest and enforces bucket-owner object ownership', () => {
    const bucket = resource('S3BucketFiles').Properties;
    expect(bucket.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(JSON.stringify(bucket.BucketEncryption)).toMatch(/"SSEAlgorithm":"(AES256|aws:kms)"/);
    expect(bucket.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
  });

  it('denies every request that does not use TLS', () => {
    const policy = resource('FilesBucketPolicy');
    expect(policy.Properties.Bucket).toEqual({ Ref: 'S3BucketFiles' });
    expect((policy.Properties.PolicyDocument as { Statement: Json[] }).Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Principal: '*',
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });

  it('aborts stale multipart uploads, expires archives, keeps submissions and results by default, never expires tasks', () => {
    const rules = (resource('S3BucketFiles').Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
    expect(rules).toContainEqual(
      expect.objectContaining({ Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
    );
    expect(rules).toContainEqual(
      expect.objectContaining({ Status: 'Enabled', Prefix: 'submission_archives/', ExpirationInDays: 14 }),
    );
    for (const prefix of ['submissions/', 'revisions/', 'manifests/', 'results/']) {
      const rule = rules.find((r) => r.Prefix === prefix);
      expect(JSON.stringify(rule?.Status)).toContain('Disabled'); // Fn::If on a parameter that defaults to 0 (off)
    }
    const conditions = (JSON.parse(templateText) as { Conditions: Json }).Conditions;
    expect(JSON.stringify(conditions.ExpireSubmissions)).toContain('"0","0"');
    expect(rules.filter((r) => typeof r.Prefix === 'string' && r.Prefix.startsWith('tasks'))).toEqual([]);
    expect(rules.filter((r) => r.Prefix === undefined && r.ExpirationInDays !== undefined)).toEqual([]);
  });

  it('notifies the archiver of new manifests only', () => {
    const notifications = (
      resource('S3BucketFiles').Properties.NotificationConfiguration as { LambdaConfigurations: Json[] }
    ).LambdaConfigurations;
    expect(notifications).toEqual([
      {
        Event: 's3:ObjectCreated:*',
        Function: { 'Fn::GetAtt': ['ArchiverLambdaFunction', 'Arn'] },
        Filter: {
          S3Key: {
            Rules: [
              { Name: 'prefix', Value: 'manifests/' },
              { Name: 'suffix', Value: '.json' },
            ],
          },
        },
      },
    ]);
  });
});

describe('the functions', () => {
  const functions = (): [string, Resource][] => ofType('AWS::Lambda::Function');

  it('run on nodejs22.x, each from its own package', async () => {
    expect(functions().length).toBe(9);
    for (const [, fn] of functions()) expect(fn.Properties.Runtime).toBe('nodejs22.x');
    const zips = (await readdir(out)).filter((name) => name.endsWith('.zip')).sort();
    expect(zips).toEqual(
      [
        'archiver',
        'archives',
        'attachments',
        'exerciseDownload',
        'exerciseUpload',
        'results',
        'status',
        'submissions',
        'uploads',
      ].map((name) => `${name}.zip`),
    );
  });

  it('each have their own role, and no S3 statement grants s3:* or Resource "*"', () => {
    const roles = new Set(functions().map(([, fn]) => JSON.stringify(fn.Properties.Role)));
    expect(roles.size).toBe(functions().length);
    for (const [, role] of ofType('AWS::IAM::Role')) {
      for (const statement of statementsOf(role)) {
        const actions = ([] as string[]).concat(statement.Action as string | string[]);
        if (!actions.some((action) => action.startsWith('s3:'))) continue;
        expect(actions).not.toContain('s3:*');
        for (const arn of ([] as unknown[]).concat(statement.Resource)) {
          expect(arn).not.toBe('*');
          expect(String(arn)).toMatch(/^arn:aws:s3:::recodex-fileserver-dev-files(\/[a-z_]+\/\*)?$/);
        }
      }
    }
  });

  it.each([
    [
      'Archiver',
      {
        's3:GetObject': ['manifests/*', 'submissions/*', 'revisions/*', 'submission_archives/*'],
        's3:PutObject': ['submission_archives/*'],
      },
    ],
    ['ExerciseUpload', { 's3:GetObject': ['tasks/*'], 's3:PutObject': ['tasks/*'] }],
    ['ExerciseDownload', { 's3:GetObject': ['tasks/*'], 's3:PutObject': [] }],
    ['Results', { 's3:GetObject': ['results/*'], 's3:PutObject': ['results/*'] }],
    [
      // Writes the archive it builds from the request's own bytes (lib/archive.ts).
      'Submissions',
      {
        's3:GetObject': ['manifests/*'],
        's3:PutObject': ['submissions/*', 'revisions/*', 'manifests/*', 'submission_archives/*'],
      },
    ],
    ['Status', { 's3:GetObject': [], 's3:PutObject': [] }],
    [
      // Writes a stale large submission's manifest again, so that S3 notifies the archiver (lib/archiver.ts).
      'Archives',
      {
        's3:GetObject': ['manifests/*', 'submissions/*', 'revisions/*', 'submission_archives/*'],
        's3:PutObject': ['submission_archives/*', 'manifests/*'],
      },
    ],
    [
      // A presigned URL acts with the rights of the role that signed it: exactly the keys the route hands out.
      'Uploads',
      {
        's3:GetObject': ['tasks/*', 'results/*', 'attachments/*', 'revisions/*', 'manifests/*'],
        's3:PutObject': ['tasks/*', 'results/*', 'attachments/*', 'revisions/*', 'manifests/*'],
      },
    ],
  ])('%s reads and writes only its own prefixes', (fn, expected) => {
    const role = resource(`${fn}IamRoleLambdaExecution`);
    for (const [action, prefixes] of Object.entries(expected)) {
      const granted = statementsOf(role)
        .filter((s) => ([] as string[]).concat(s.Action as string | string[]).includes(action))
        .flatMap((s) => ([] as string[]).concat(s.Resource as string | string[]))
        .map((arn) => arn.replace('arn:aws:s3:::recodex-fileserver-dev-files/', ''));
      expect(granted.sort()).toEqual([...prefixes].sort());
    }
  });

  it('read the credentials from the SSM parameter named at deploy time, and keep no secret in the template', () => {
    for (const [name, fn] of functions()) {
      const env = (fn.Properties.Environment as { Variables: Json }).Variables;
      expect(env.BUCKET).toBe('recodex-fileserver-dev-files');
      if (name !== 'ArchiverLambdaFunction') expect(env.CREDENTIALS_PARAMETER).toBe(PARAMETER);
      expect(env).not.toHaveProperty('FILESERVER_PASSWORD');
      expect(env).not.toHaveProperty('FILESERVER_USERNAME');
    }
    expect(templateText).not.toMatch(/FILESERVER_PASSWORD|re:codex|"password"/i);
    const ssm = statementsOf(resource('SubmissionsIamRoleLambdaExecution')).find((s) =>
      ([] as string[]).concat(s.Action as string[]).includes('ssm:GetParameter'),
    );
    expect(JSON.stringify(ssm?.Resource)).toContain(`":parameter","${PARAMETER}"`);
  });

  it('set memory, timeouts and log retention', () => {
    const props = (name: string): Json => resource(`${name}LambdaFunction`).Properties;
    expect(props('Archiver')).toMatchObject({ MemorySize: 1024, Timeout: 900 });
    expect(props('Archives')).toMatchObject({ MemorySize: 1024, Timeout: 29 });
    expect(props('Submissions')).toMatchObject({ Timeout: 29 });
    for (const [, group] of ofType('AWS::Logs::LogGroup')) expect(group.Properties.RetentionInDays).toBe(30);
  });
});

describe('deploying', () => {
  it('refuses to package without the credentials parameter or the VPC endpoint, and says what to pass', async () => {
    const refused = await osls(['package', '--package', join(out, 'refused')]);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('Refusing to package the fileserver');
    expect(refused.output).toContain('credentialsParameter is missing');
    expect(refused.output).toContain('vpcEndpointIds is missing');
    const noCredentials = await osls(['package', '--package', join(out, 'refused2'), `--param=vpcEndpointIds=${VPCE}`]);
    expect(noCredentials.code).not.toBe(0);
    expect(noCredentials.output).toContain('credentialsParameter is missing');
  }, 120_000);
});

function statementsOf(role: Resource): Json[] {
  const policies = role.Properties.Policies as { PolicyDocument: { Statement: Json[] } }[];
  return policies.flatMap((policy) => policy.PolicyDocument.Statement);
}

/** The path of an API Gateway resource id, following ParentId links through the template. */
function resourcePath(id: unknown): string {
  if (JSON.stringify(id).includes('RootResourceId')) return '/';
  const name = (id as { Ref?: string }).Ref;
  const node = name ? resources[name] : undefined;
  if (!node) return '?';
  const parent = resourcePath(node.Properties.ParentId);
  return `${parent === '/' ? '' : parent}/${node.Properties.PathPart as string}`;
}
