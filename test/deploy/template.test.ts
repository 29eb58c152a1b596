/**
 * The deployment, checked without an AWS account: `osls package` runs offline and these tests read the
 * CloudFormation template it writes (docs/design.md "Auth and isolation", issue "Deployable to AWS").
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type CfnResource, type CfnTemplate, type Packaged, packageService } from '../../scripts/package-service';
import { dashboardBody, type PlottedMetric, plottedMetrics } from '../deployed/dashboard-check';
import { readZip } from '../support/zip';
import { destinationsTheRoleCannotReach, privateApiPolicyProblems, s3TargetsWithoutPermission } from './aws-refusals';

// The plugin's own module (CommonJS, like the other local plugins).
const { tracingOn } = require('../../deploy/observability') as { tracingOn: (value: unknown) => boolean };

const VPCE = 'vpce-0a1b2c3d4e5f67890';
const PARAMETER = '/recodex/test/credentials';
const CUSTOM_BUCKET = 'recodex-files-custom-name';
const SECOND_VPCE = 'vpce-0fedcba9876543210';
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:recodex-alarms';
/** Every optional parameter set (the "custom" package), against the defaults (the "packaged" one). */
const OPTIONS = {
  bucketName: CUSTOM_BUCKET,
  vpcEndpointIds: `${VPCE},${SECOND_VPCE}`,
  alarmTopicArn: TOPIC,
  bucketVersioning: 'true',
  archiverReservedConcurrency: '3',
  apiAccessLogs: 'true',
  // Numbers arrive from --param as strings: the template must carry them as numbers.
  archiveExpirationDays: '7',
  submissionRetentionDays: '365',
  resultRetentionDays: '180',
  noncurrentVersionDays: '10',
  logRetentionDays: '14',
  tracing: 'true',
  credentialsTtlSeconds: '60',
};
/** The account and region the tests resolve the template's expressions for. */
const ACCOUNT = { 'AWS::Partition': 'aws', 'AWS::AccountId': '123456789012', 'AWS::Region': 'eu-west-1' };
const DEFAULT_BUCKET = 'recodex-fileserver-dev-files-123456789012-eu-west-1';

type Json = Record<string, unknown>;
type Resource = CfnResource;

let packaged: Packaged;
let custom: Packaged;
let template: CfnTemplate;
let resources: Record<string, Resource>;
let templateText: string;

beforeAll(async () => {
  const params = { vpcEndpointIds: VPCE, credentialsParameter: PARAMETER };
  [packaged, custom] = await Promise.all([packageService(params), packageService({ ...params, ...OPTIONS })]);
  for (const run of [packaged, custom]) if (!run.template) throw new Error(`osls package failed:\n${run.output}`);
  template = packaged.template as CfnTemplate;
  resources = template.Resources;
  templateText = JSON.stringify(template);
}, 240_000);

afterAll(async () => {
  await Promise.all([packaged?.close(), custom?.close()]);
});

const ofType = (type: string): [string, Resource][] => Object.entries(resources).filter(([, r]) => r.Type === type);
const functions = (): [string, Resource][] => ofType('AWS::Lambda::Function');
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
        Condition: { StringEquals: { 'aws:SourceVpce': [VPCE] } },
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
    // docs/protocol.md §7: the 413 names the large-upload route.
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
    const conditions = template.Conditions as Json;
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

describe("the archiver's trigger", () => {
  // S3 checks, when it creates the bucket, that it may invoke each notification's function: a permission naming
  // another bucket makes the first deploy roll back.
  it.each([
    ['the default bucket name', () => packaged, DEFAULT_BUCKET],
    ['a custom bucketName', () => custom, CUSTOM_BUCKET],
  ])('lets S3 invoke the archiver from the bucket it creates, with %s', (_, run, bucket) => {
    const { Resources } = run().template as CfnTemplate;
    expect(resolveString(Resources.S3BucketFiles?.Properties.BucketName, ACCOUNT)).toBe(bucket);
    const permissions = Object.values(Resources).filter(
      (r) => r.Type === 'AWS::Lambda::Permission' && r.Properties.Principal === 's3.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    const permission = (permissions[0] as Resource).Properties;
    expect(permission.FunctionName).toEqual({ 'Fn::GetAtt': ['ArchiverLambdaFunction', 'Arn'] });
    expect(permission.SourceAccount).toEqual({ Ref: 'AWS::AccountId' });
    expect(resolveString(permission.SourceArn, ACCOUNT)).toBe(`arn:aws:s3:::${bucket}`);
    // The bucket waits for the permission, so the notification's check finds it.
    expect(([] as string[]).concat(Resources.S3BucketFiles?.DependsOn ?? [])).toContain(
      Object.entries(Resources).find(([, r]) => r.Properties === permission)?.[0],
    );
  });
});

describe('the functions', () => {
  it('run on nodejs22.x, each from its own package', async () => {
    expect(functions().length).toBe(9);
    for (const [, fn] of functions()) expect(fn.Properties.Runtime).toBe('nodejs22.x');
    const zips = (await readdir(packaged.out)).filter((name) => name.endsWith('.zip')).sort();
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
          expect(resolveString(arn, ACCOUNT)).toMatch(new RegExp(`^arn:aws:s3:::${DEFAULT_BUCKET}(/[a-z_]+/\\*)?$`));
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
      // Writes the archive it builds from the request's own bytes (lib/fileserver/archive-zip.ts).
      'Submissions',
      {
        's3:GetObject': ['manifests/*'],
        's3:PutObject': ['submissions/*', 'revisions/*', 'manifests/*', 'submission_archives/*'],
      },
    ],
    ['Status', { 's3:GetObject': [], 's3:PutObject': [] }],
    [
      // Writes a stale large submission's manifest again, so that S3 notifies the archiver (lib/fileserver/archive-refresh.ts).
      'Archives',
      {
        's3:GetObject': ['manifests/*', 'submissions/*', 'revisions/*', 'submission_archives/*'],
        's3:PutObject': ['submission_archives/*', 'manifests/*'],
      },
    ],
    [
      // A presigned URL acts with the rights of the role that signed it: exactly the keys the route hands out. It
      // reads only what it checks (never a result or an attachment: test:deployed found those grants unused).
      'Uploads',
      {
        's3:GetObject': ['tasks/*', 'revisions/*', 'manifests/*'],
        's3:PutObject': ['tasks/*', 'results/*', 'attachments/*', 'revisions/*', 'manifests/*'],
      },
    ],
  ])('%s reads and writes only its own prefixes', (fn, expected) => {
    const role = resource(`${fn}IamRoleLambdaExecution`);
    for (const [action, prefixes] of Object.entries(expected)) {
      const granted = statementsOf(role)
        .filter((s) => ([] as string[]).concat(s.Action as string | string[]).includes(action))
        .flatMap((s) => ([] as unknown[]).concat(s.Resource))
        .map((arn) => resolveString(arn, ACCOUNT).replace(`arn:aws:s3:::${DEFAULT_BUCKET}/`, ''));
      expect(granted.sort()).toEqual([...prefixes].sort());
    }
  });

  it('read the credentials from the SSM parameter named at deploy time, and keep no secret in the template', () => {
    for (const [name, fn] of functions()) {
      const env = (fn.Properties.Environment as { Variables: Json }).Variables;
      expect(resolveString(env.BUCKET, ACCOUNT)).toBe(DEFAULT_BUCKET);
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
    const [refused, noCredentials, badTtl] = await Promise.all([
      packageService({}),
      packageService({ vpcEndpointIds: VPCE }),
      packageService({ vpcEndpointIds: VPCE, credentialsParameter: PARAMETER, credentialsTtlSeconds: '5m' }),
    ]);
    try {
      expect(badTtl.code).not.toBe(0);
      expect(badTtl.output).toContain(
        'credentialsTtlSeconds must be a whole number of seconds (default 300), not "5m"',
      );
      expect(refused.code).not.toBe(0);
      expect(refused.output).toContain('Refusing to package the fileserver');
      expect(refused.output).toContain('credentialsParameter is missing');
      expect(refused.output).toContain('vpcEndpointIds is missing');
      expect(noCredentials.code).not.toBe(0);
      expect(noCredentials.output).toContain('credentialsParameter is missing');
    } finally {
      await Promise.all([refused.close(), noCredentials.close(), badTtl.close()]);
    }
  }, 120_000);

  // CloudFormation would fail these halfway through the first deploy; packaging says what to do instead.
  it('refuses a bucket name over 63 characters: a long stage in the default name, or bucketName', async () => {
    const params = { vpcEndpointIds: VPCE, credentialsParameter: PARAMETER };
    const stage = 'integration-test-of-the-week';
    const [longStage, longName] = await Promise.all([
      packageService(params, ['--stage', stage]),
      packageService({ ...params, bucketName: `recodex-${'x'.repeat(60)}` }),
    ]);
    try {
      expect(longStage.code).not.toBe(0);
      // 19 + 28 + 7 + 12 + 1 + 9 characters: recodex-fileserver-<stage>-files-<account id>-eu-west-1
      expect(longStage.output).toContain(
        `the default bucket name recodex-fileserver-${stage}-files-<account id>-eu-west-1 would be 76 characters`,
      );
      expect(longStage.output).toContain('--param="bucketName=');
      expect(longName.code).not.toBe(0);
      expect(longName.output).toContain('bucketName must be 3 to 63 characters long, not 68');
    } finally {
      await Promise.all([longStage.close(), longName.close()]);
    }
  }, 120_000);

  it('refuses an archiver reservation of 0, and says what quota a reservation needs', async () => {
    const zero = await packageService({
      vpcEndpointIds: VPCE,
      credentialsParameter: PARAMETER,
      archiverReservedConcurrency: '0',
    });
    try {
      expect(zero.code).not.toBe(0);
      expect(zero.output).toContain('archiverReservedConcurrency must be a whole number of at least 1, not 0');
      expect(zero.output).toContain('quota of at least N + 100');
    } finally {
      await zero.close();
    }
  }, 120_000);
});

// The risks of a first deploy into a new account (docs/deploy.md, "What a first deploy risks").
describe('the first deploy', () => {
  it('names the default bucket after the account and region, since bucket names are global; bucketName overrides it', () => {
    const bucket = resource('S3BucketFiles').Properties.BucketName;
    expect(bucket).toEqual({ 'Fn::Sub': `recodex-fileserver-dev-files-\${AWS::AccountId}-\${AWS::Region}` });
    const other = { ...ACCOUNT, 'AWS::AccountId': '210987654321', 'AWS::Region': 'us-east-1' };
    expect(resolveString(bucket, other)).toBe('recodex-fileserver-dev-files-210987654321-us-east-1');
    // Everything that names the bucket names the same one: no placeholder or account-less name is left.
    expect(templateText).not.toContain('account-id-region'); // deploy/bucket-name.js's placeholder
    expect(templateText).not.toMatch(/recodex-fileserver-dev-files(?!-\$\{AWS::AccountId\}-\$\{AWS::Region\})/);
    expect(customResources().S3BucketFiles?.Properties.BucketName).toBe(CUSTOM_BUCKET);
    expect(JSON.stringify(custom.template)).not.toContain('recodex-fileserver-dev-files');
  });

  it('lets a failed first deploy remove the bucket it created, so that the retry does not find the name taken', () => {
    expect(resource('S3BucketFiles').DeletionPolicy).toBe('RetainExceptOnCreate');
    expect(resource('S3BucketFiles').UpdateReplacePolicy).toBe('Retain');
  });

  it("creates the bucket only after the archiver's invoke config, with its failure destination, exists", () => {
    for (const t of [template, custom.template as CfnTemplate]) {
      const dependsOn = ([] as string[]).concat(t.Resources.S3BucketFiles?.DependsOn ?? []);
      expect(dependsOn).toEqual(
        expect.arrayContaining(['ArchiverEventInvokeConfig', 'ArchiverLambdaPermissionFilesS3']),
      );
    }
  });

  it('writes numbers where CloudFormation types numbers, also from --param values (which arrive as strings)', () => {
    for (const t of [template, custom.template as CfnTemplate]) {
      const found = integerProperties(t);
      expect(found.length).toBeGreaterThan(20);
      for (const [where, value] of found) expect([where, typeof value]).toEqual([where, 'number']);
    }
    const bucket = customResources().S3BucketFiles as Resource;
    const rules = (bucket.Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
    const rule = (id: string): Json | undefined => rules.find((r) => r.Id === id);
    expect(rule('expire-archives')?.ExpirationInDays).toBe(7);
    expect(rule('expire-submissions')?.ExpirationInDays).toEqual({ 'Fn::If': ['ExpireSubmissions', 365, 1] });
    expect(rule('expire-results')?.ExpirationInDays).toEqual({ 'Fn::If': ['ExpireResults', 180, 1] });
    expect(rule('expire-noncurrent-versions')?.NoncurrentVersionExpiration).toEqual({ NoncurrentDays: 10 });
    expect(customResources().ArchiverLogGroup?.Properties.RetentionInDays).toBe(14);
  });
});

describe('what AWS refuses at deploy time and the emulated deploy accepts', () => {
  const mutated = (change: (t: CfnTemplate) => void): CfnTemplate => {
    const copy = structuredClone(template);
    change(copy);
    return copy;
  };
  const archiverS3Permission = 'ArchiverLambdaPermissionFilesS3';

  it('every S3 notification target may be invoked by S3 from this bucket and this account', () => {
    expect(s3TargetsWithoutPermission(template)).toEqual([]);
    expect(s3TargetsWithoutPermission(custom.template as CfnTemplate)).toEqual([]);
    const withoutPermission = mutated((t) => {
      delete t.Resources[archiverS3Permission];
      t.Resources.S3BucketFiles = { ...(t.Resources.S3BucketFiles as Resource), DependsOn: [] };
    });
    expect(s3TargetsWithoutPermission(withoutPermission)).toEqual([
      'S3BucketFiles notifies ArchiverLambdaFunction, and no permission lets s3.amazonaws.com invoke it',
    ]);
    const withoutAccount = mutated((t) => delete t.Resources[archiverS3Permission]?.Properties.SourceAccount);
    expect(s3TargetsWithoutPermission(withoutAccount)).toEqual([expect.stringContaining('(SourceAccount)')]);
    const otherBucket = mutated((t) => {
      (t.Resources[archiverS3Permission] as Resource).Properties.SourceArn = 'arn:aws:s3:::files';
    });
    expect(s3TargetsWithoutPermission(otherBucket)).toEqual([expect.stringContaining('names this bucket')]);
    const notWaiting = mutated((t) => {
      (t.Resources.S3BucketFiles as Resource).DependsOn = ['ArchiverEventInvokeConfig'];
    });
    expect(s3TargetsWithoutPermission(notWaiting)).toEqual([expect.stringContaining('does not wait')]);
  });

  it("the archiver's role may send to its on-failure destination", async () => {
    expect(await destinationsTheRoleCannotReach(template)).toEqual([]);
    const withoutSend = mutated((t) => {
      for (const policy of (t.Resources.ArchiverIamRoleLambdaExecution as Resource).Properties.Policies as {
        PolicyDocument: { Statement: Json[] };
      }[]) {
        policy.PolicyDocument.Statement = policy.PolicyDocument.Statement.filter(
          (s) => !JSON.stringify(s.Action).includes('sqs:SendMessage'),
        );
      }
    });
    expect(await destinationsTheRoleCannotReach(withoutSend)).toEqual([
      expect.stringContaining('ArchiverEventInvokeConfig: ArchiverIamRoleLambdaExecution may not sqs:SendMessage'),
    ]);
  });

  it('the private API has a resource policy that admits exactly the given VPC endpoints', () => {
    expect(privateApiPolicyProblems(template, [VPCE])).toEqual([]);
    expect(privateApiPolicyProblems(custom.template as CfnTemplate, [VPCE, SECOND_VPCE])).toEqual([]);
    const api = (t: CfnTemplate): Json => (t.Resources.ApiGatewayRestApi as Resource).Properties;
    const withoutPolicy = mutated((t) => delete api(t).Policy);
    expect(privateApiPolicyProblems(withoutPolicy, [VPCE])).toEqual([
      'ApiGatewayRestApi is PRIVATE and has no resource policy that allows execute-api:Invoke',
    ]);
    const openPolicy = mutated((t) => {
      for (const statement of (api(t).Policy as { Statement: Json[] }).Statement) delete statement.Condition;
    });
    expect(privateApiPolicyProblems(openPolicy, [VPCE])).toEqual([expect.stringContaining('for any caller')]);
    expect(privateApiPolicyProblems(template, [SECOND_VPCE])).toEqual([
      expect.stringContaining(`not ${SECOND_VPCE}`),
      expect.stringContaining(`allows ["execute-api:Invoke"] for ${VPCE}, not only through ${SECOND_VPCE}`),
    ]);
  });
});

/** Every value of a property CloudFormation types as an integer, with where it is (Fn::If branches apart). */
function integerProperties(t: CfnTemplate): [string, unknown][] {
  const found: [string, unknown][] = [];
  const add = (where: string, value: unknown): void => {
    const branches = (value as { 'Fn::If'?: unknown[] })?.['Fn::If'];
    if (Array.isArray(branches)) {
      for (const [i, branch] of branches.slice(1).entries()) add(`${where}.if${i}`, branch);
    } else if (value !== undefined) found.push([where, value]);
  };
  for (const [id, r] of Object.entries(t.Resources)) {
    const p = r.Properties;
    if (r.Type === 'AWS::S3::Bucket') {
      const rules = ((p.LifecycleConfiguration as { Rules?: Json[] } | undefined)?.Rules ?? []) as Json[];
      for (const rule of rules) {
        add(`${id}.${rule.Id}.ExpirationInDays`, rule.ExpirationInDays);
        add(`${id}.${rule.Id}.NoncurrentDays`, (rule.NoncurrentVersionExpiration as Json | undefined)?.NoncurrentDays);
        add(
          `${id}.${rule.Id}.DaysAfterInitiation`,
          (rule.AbortIncompleteMultipartUpload as Json | undefined)?.DaysAfterInitiation,
        );
      }
    }
    if (r.Type === 'AWS::Logs::LogGroup') add(`${id}.RetentionInDays`, p.RetentionInDays);
    if (r.Type === 'AWS::Lambda::Function') {
      for (const name of ['MemorySize', 'Timeout', 'ReservedConcurrentExecutions']) add(`${id}.${name}`, p[name]);
    }
  }
  return found;
}

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

/**
 * A string-valued template expression (literals, Fn::Join, Fn::Sub without a map, Ref of a pseudo parameter) with
 * the given values.
 */
function resolveString(value: unknown, refs: Record<string, string>): string {
  if (typeof value === 'string') return value;
  const node = value as { 'Fn::Join'?: [string, unknown[]]; 'Fn::Sub'?: unknown; Ref?: string };
  if (typeof node['Fn::Sub'] === 'string') {
    return node['Fn::Sub'].replace(/\$\{([^}!]+)\}/g, (_, name: string) => resolveString({ Ref: name }, refs));
  }
  if (node.Ref !== undefined) {
    const resolved = refs[node.Ref];
    if (resolved === undefined) throw new Error(`no value for Ref ${node.Ref}`);
    return resolved;
  }
  if (node['Fn::Join']) {
    const [separator, parts] = node['Fn::Join'];
    return parts.map((part) => resolveString(part, refs)).join(separator);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

const customResources = (): Record<string, Resource> => (custom.template as CfnTemplate).Resources;
const conditionValue = (t: CfnTemplate, name: string): boolean => {
  const condition = t.Conditions?.[name] as { 'Fn::Equals'?: [unknown, unknown] };
  const equals = condition['Fn::Equals'];
  if (!equals) throw new Error(`condition ${name} is not a plain Fn::Equals`);
  return equals[0] === equals[1];
};

describe('the production template', () => {
  it('sends archiver events that failed two retries or an hour to an encrypted queue kept 14 days', () => {
    const configs = ofType('AWS::Lambda::EventInvokeConfig');
    expect(configs).toHaveLength(1);
    const config = (configs[0] as [string, Resource])[1].Properties;
    expect(config.FunctionName).toEqual({ Ref: 'ArchiverLambdaFunction' });
    expect(config.Qualifier).toBe('$LATEST');
    expect(config.MaximumRetryAttempts).toBe(2);
    expect(config.MaximumEventAgeInSeconds).toBe(3600);
    const destination = (config.DestinationConfig as { OnFailure: { Destination: unknown } }).OnFailure.Destination;
    expect(destination).toEqual({ 'Fn::GetAtt': ['ArchiverFailureQueue', 'Arn'] });
    const queue = resource('ArchiverFailureQueue');
    expect(queue.Type).toBe('AWS::SQS::Queue');
    expect(queue.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    // Lambda delivers to the destination with the function's role.
    const send = statementsOf(resource('ArchiverIamRoleLambdaExecution')).filter((s) =>
      ([] as string[]).concat(s.Action as string[]).includes('sqs:SendMessage'),
    );
    expect(send.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': ['ArchiverFailureQueue', 'Arn'] }]);
  });

  it('alarms on archiver errors, a non-empty failure queue, the API 5xx rate and throttles of any function', () => {
    const alarms = Object.fromEntries(ofType('AWS::CloudWatch::Alarm').map(([id, r]) => [id, r.Properties]));
    expect(alarms.ArchiverErrorsAlarm).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'ArchiverLambdaFunction' } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(alarms.ArchiverFailureQueueAlarm).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ArchiverFailureQueue', 'QueueName'] } }],
      Threshold: 0,
    });
    // The metric's dimensions must name the API and stage as API Gateway reports them.
    expect(alarms.ApiServerErrorsAlarm).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: '5XXError',
      Statistic: 'Average',
      Dimensions: [
        { Name: 'ApiName', Value: resource('ApiGatewayRestApi').Properties.Name },
        { Name: 'Stage', Value: 'dev' },
      ],
    });
    const throttles = alarms.LambdaThrottlesAlarm as { Metrics: { MetricStat?: Json; Expression?: string }[] };
    const counted = throttles.Metrics.flatMap((m) => (m.MetricStat ? [JSON.stringify(m.MetricStat)] : []));
    for (const [id] of functions()) expect(counted.some((m) => m.includes(`{"Ref":"${id}"}`))).toBe(true);
    expect(counted.every((m) => m.includes('"MetricName":"Throttles"'))).toBe(true);
    expect(throttles.Metrics.find((m) => m.Expression)?.Expression).toBe(
      functions()
        .map((_, i) => `t${i}`)
        .join('+'),
    );
    // Without alarmTopicArn the alarms notify nobody; with it, every alarm notifies the topic, firing and clearing.
    for (const alarm of Object.values(alarms)) expect(alarm).not.toHaveProperty('AlarmActions');
    const customAlarms = Object.values(customResources()).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    expect(customAlarms).toHaveLength(Object.keys(alarms).length);
    for (const alarm of customAlarms)
      expect(alarm.Properties).toMatchObject({ AlarmActions: [TOPIC], OKActions: [TOPIC] });
  });

  it('keeps the bucket when the stack is removed or the bucket replaced, and versions it only when asked', () => {
    for (const bucket of [resource('S3BucketFiles'), customResources().S3BucketFiles as Resource]) {
      // Retained, except by a rollback of the very operation that created it (below, "the first deploy").
      expect(bucket.DeletionPolicy).toBe('RetainExceptOnCreate');
      expect(bucket.UpdateReplacePolicy).toBe('Retain');
      expect(bucket.Properties.VersioningConfiguration).toEqual({
        'Fn::If': ['VersionBucket', { Status: 'Enabled' }, { Ref: 'AWS::NoValue' }],
      });
    }
    expect(conditionValue(template, 'VersionBucket')).toBe(false);
    expect(conditionValue(custom.template as CfnTemplate, 'VersionBucket')).toBe(true);
    const rules = (resource('S3BucketFiles').Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
    expect(rules).toContainEqual({
      Id: 'expire-noncurrent-versions',
      Status: { 'Fn::If': ['VersionBucket', 'Enabled', 'Disabled'] },
      NoncurrentVersionExpiration: { NoncurrentDays: 30 },
    });
  });

  it('caps the archiver at the reserved concurrency given, and leaves it uncapped by default', () => {
    expect(resource('ArchiverLambdaFunction').Properties).not.toHaveProperty('ReservedConcurrentExecutions');
    expect(customResources().ArchiverLambdaFunction?.Properties.ReservedConcurrentExecutions).toBe(3);
  });

  it('admits every VPC endpoint of a comma-separated vpcEndpointIds, and outputs a base URL for each', () => {
    const api = customResources().ApiGatewayRestApi?.Properties as Json;
    expect(api.EndpointConfiguration).toEqual({ Types: ['PRIVATE'], VpcEndpointIds: [VPCE, SECOND_VPCE] });
    expect(JSON.stringify(api.Policy)).toContain(`"aws:SourceVpce":["${VPCE}","${SECOND_VPCE}"]`);
    const account = { 'AWS::Region': 'eu-west-1', 'AWS::URLSuffix': 'amazonaws.com', ApiGatewayRestApi: 'a1b2c3' };
    const outputs = (custom.template as CfnTemplate).Outputs ?? {};
    const url = (name: string): string => resolveString(outputs[name]?.Value, account);
    expect(url('BaseUrl')).toBe('https://a1b2c3.execute-api.eu-west-1.amazonaws.com/dev');
    expect(url(`BaseUrlVpce${VPCE.slice(5)}`)).toBe(`https://a1b2c3-${VPCE}.execute-api.eu-west-1.amazonaws.com/dev`);
    expect(url(`BaseUrlVpce${SECOND_VPCE.slice(5)}`)).toBe(
      `https://a1b2c3-${SECOND_VPCE}.execute-api.eu-west-1.amazonaws.com/dev`,
    );
    expect(Object.keys(template.Outputs ?? {}).filter((name) => name.startsWith('BaseUrl'))).toHaveLength(2);
  });

  it('writes JSON access logs of the stage only when asked, with no header values in them', () => {
    const deployment = (t: CfnTemplate) =>
      Object.values(t.Resources).find((r) => r.Type === 'AWS::ApiGateway::Deployment') as Resource;
    const stage = deployment(custom.template as CfnTemplate).Properties.StageDescription as {
      'Fn::If': [string, { AccessLogSetting: { DestinationArn: unknown; Format: string } }, unknown];
    };
    expect(stage['Fn::If'][0]).toBe('ApiAccessLogs');
    const setting = stage['Fn::If'][1].AccessLogSetting;
    expect(setting.DestinationArn).toEqual({ 'Fn::GetAtt': ['ApiAccessLogGroup', 'Arn'] });
    expect(JSON.parse(setting.Format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
    expect(setting.Format).not.toMatch(/header|authorizer/i);
    expect(customResources().ApiAccessLogGroup?.Condition).toBe('ApiAccessLogs');
    expect(conditionValue(custom.template as CfnTemplate, 'ApiAccessLogs')).toBe(true);
    expect(conditionValue(template, 'ApiAccessLogs')).toBe(false);
  });

  it('has no unused default role, and the gateway responses are part of the first API deployment', () => {
    expect(resources).not.toHaveProperty('IamRoleLambdaExecution');
    const deployment = ofType('AWS::ApiGateway::Deployment');
    expect(deployment).toHaveLength(1);
    const dependsOn = ([] as string[]).concat((deployment[0] as [string, Resource])[1].DependsOn ?? []);
    expect(dependsOn).toEqual(expect.arrayContaining(['GatewayResponseUnknownRoute', 'GatewayResponseTooLarge']));
  });

  it('bundles source maps of the project code only, keeps class names, and runs Node with --enable-source-maps', async () => {
    const entries = Object.fromEntries(
      (await readZip(await readFile(join(packaged.out, 'status.zip')))).map((e) => [e.name, e.data]),
    );
    expect(Object.keys(entries).sort()).toEqual(['functions/status.js', 'functions/status.js.map']);
    const map = JSON.parse((entries['functions/status.js.map'] as Buffer).toString('utf8')) as { sources: string[] };
    expect(map.sources.length).toBeGreaterThan(0);
    for (const source of map.sources) expect(source).toMatch(/^([\w-]+\.ts|\.\.\/(lib\/[\w/-]+\.ts|package\.json))$/);
    const bundle = (entries['functions/status.js'] as Buffer).toString('utf8');
    expect(bundle).toContain('"UnauthorizedError"'); // keepNames: the class keeps its name in the minified code
    expect(bundle).toContain('//# sourceMappingURL=status.js.map');
    for (const [, fn] of functions()) {
      const env = (fn.Properties.Environment as { Variables: Json }).Variables;
      expect(String(env.NODE_OPTIONS).split(' ')).toContain('--enable-source-maps');
    }
  });
});

describe('operating it: metrics, dashboard, tracing, rotation', () => {
  const body = (t: CfnTemplate) => {
    const dashboard = t.Resources.Dashboard as Resource;
    return dashboardBody(dashboard.Properties.DashboardBody) as {
      widgets: { type: string; properties: { title?: string; metrics?: unknown[][] } }[];
    };
  };
  const titled = (t: CfnTemplate) => body(t).widgets.map((w) => w.properties.title ?? w.type);

  it('name the metrics namespace of the stage, and re-read the credentials every credentialsTtlSeconds (300)', () => {
    for (const [t, ttl] of [
      [template, '300'],
      [custom.template as CfnTemplate, '60'],
    ] as const) {
      for (const [, fn] of Object.entries(t.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function')) {
        const env = (fn.Properties.Environment as { Variables: Json }).Variables;
        expect(env).toMatchObject({ METRICS_NAMESPACE: 'recodex-fileserver/dev', CREDENTIALS_TTL_SECONDS: ttl });
      }
    }
  });

  it('have a dashboard: requests and 4xx/5xx by route, p50/p99 latency, archive builds, the failure queue, Lambda throttles and concurrency, the cache hit rate', () => {
    const dashboard = resource('Dashboard');
    expect(dashboard.Type).toBe('AWS::CloudWatch::Dashboard');
    expect(dashboard.Properties.DashboardName).toBe('recodex-fileserver-dev-eu-west-1');
    expect(titled(template)).toEqual([
      'text',
      'Requests by route and status class',
      '4xx answers by route',
      '5xx answers by route',
      'Latency p50 by route (2xx answers, ms)',
      'Latency p99 by route (2xx answers, ms)',
      'S3 requests by route',
      'Archive builds by the archiver: duration (ms) and count',
      'Archive builds in requests (POST, GET on demand): p99 duration (ms)',
      'Exercise cache hit rate (%)',
      'Failure queue: archive builds that failed every attempt',
      'Lambda throttles',
      'Lambda concurrent executions (max)',
    ]);
    const plotted = plottedMetrics(body(template));
    const key = (p: PlottedMetric) =>
      [p.namespace, p.name, ...Object.entries(p.dimensions).map(([k, v]) => `${k}=${v ?? '*'}`)].join(' ');
    expect(plotted.map(key)).toEqual([
      'recodex-fileserver/dev Requests Route=* StatusClass=*',
      'recodex-fileserver/dev Requests Route=* StatusClass=4xx',
      'recodex-fileserver/dev Requests Route=* StatusClass=5xx',
      'recodex-fileserver/dev Latency Route=* StatusClass=2xx',
      'recodex-fileserver/dev Latency Route=* StatusClass=2xx',
      'recodex-fileserver/dev S3Requests Route=*',
      'recodex-fileserver/dev ArchiveBuildDuration',
      'recodex-fileserver/dev ArchiveBuildDuration',
      'recodex-fileserver/dev ArchiveBuildDuration',
      'recodex-fileserver/dev ArchiveBuilds',
      'recodex-fileserver/dev ArchiveBuildDuration Route=*',
      'recodex-fileserver/dev CacheHits Route=exercise',
      'recodex-fileserver/dev CacheMisses Route=exercise',
      'AWS/SQS ApproximateNumberOfMessagesVisible QueueName=substituted',
      'AWS/SQS ApproximateAgeOfOldestMessage QueueName=substituted',
      ...functions().map(() => 'AWS/Lambda Throttles FunctionName=substituted'),
      ...functions().map(() => 'AWS/Lambda ConcurrentExecutions FunctionName=substituted'),
    ]);
    // What CloudWatch substitutes: the region, the queue's name, and every function's name.
    const text = (dashboard.Properties.DashboardBody as { 'Fn::Sub': string })['Fn::Sub'];
    const substituted = [...text.matchAll(/\$\{([^}]+)\}/g)].map((m) => m[1]);
    expect(new Set(substituted)).toEqual(
      new Set(['AWS::Region', 'ArchiverFailureQueue.QueueName', ...functions().map(([id]) => id)]),
    );
    // The percentiles and the cache's rate as CloudWatch computes them.
    expect(text).toContain("'p99'");
    expect(text).toContain('100 * FILL(hits, 0) / (FILL(hits, 0) + FILL(misses, 0))');
    expect(titled(custom.template as CfnTemplate)).toEqual(titled(template));
  });

  it('traces nothing by default; with tracing=true, every function and the API stage, with X-Ray writes in each role', () => {
    const xray = (t: CfnTemplate) =>
      Object.values(t.Resources)
        .filter((r) => r.Type === 'AWS::IAM::Role')
        .map((role) => statementsOf(role).filter((st) => JSON.stringify(st.Action).includes('xray:')));
    const stage = (t: CfnTemplate) =>
      (Object.values(t.Resources).find((r) => r.Type === 'AWS::ApiGateway::Deployment') as Resource).Properties
        .StageDescription;
    for (const [, fn] of functions()) expect(fn.Properties).not.toHaveProperty('TracingConfig');
    expect(xray(template).flat()).toEqual([]);
    expect(JSON.stringify(stage(template) ?? {})).not.toContain('TracingEnabled');

    const traced = custom.template as CfnTemplate;
    const tracedFunctions = Object.values(traced.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(tracedFunctions).toHaveLength(functions().length);
    for (const fn of tracedFunctions) expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
    const grants = xray(traced);
    expect(grants).toHaveLength(functions().length);
    for (const statements of grants) {
      expect(statements).toEqual([
        { Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' },
      ]);
    }
    const [condition, withLogs, withoutLogs] = (stage(traced) as { 'Fn::If': [string, Json, Json] })['Fn::If'];
    expect(condition).toBe('ApiAccessLogs');
    expect(withLogs).toMatchObject({ TracingEnabled: true, AccessLogSetting: expect.any(Object) });
    expect(withoutLogs).toEqual({ TracingEnabled: true });
  });

  it('refuses a tracing value other than true or false', () => {
    expect(tracingOn('true')).toBe(true);
    expect(tracingOn('false')).toBe(false);
    expect(tracingOn(undefined)).toBe(false);
    for (const typo of ['yes', 'TRUE', '1', '']) {
      expect(() => tracingOn(typo)).toThrow(`tracing must be true or false, not ${JSON.stringify(typo)}`);
    }
  });
});
