/**
 * Every AWS call a function made during the run, evaluated against that function's role in the generated template
 * (its inline policies, resolved for the stand-in account) and the bucket policy, with an IAM policy simulator
 * (@cloud-copilot/iam-simulate). A call the role would not allow is a failure. Grants no call used are listed: each
 * must be explained (`NEEDED_WITHOUT_A_CALL`) or removed from serverless.yml.
 */
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import type { AwsCall } from './aws-recorder';
import type { DeployedTemplate, FunctionSpec } from './template';

/**
 * Grants that this run cannot show in use, and why they stay. Keys are `action resource-pattern` with the
 * stand-in account's values.
 */
export const NEEDED_WITHOUT_A_CALL: { fn?: string; match: RegExp; reason: string }[] = [
  {
    match: /^logs:(CreateLogStream|CreateLogGroup|PutLogEvents) /,
    reason: "used by the Lambda service to write the function's logs, not by the function's code",
  },
  {
    match: /^s3:AbortMultipartUpload /,
    reason:
      'a build that fails after its multipart upload started aborts it (test/handlers/archiver-failure.test.ts); ' +
      'the one build that fails here fails before its upload starts',
  },
  {
    fn: 'ArchivesLambdaFunction',
    match: /^s3:PutObject arn:aws:s3:::[^/]+\/manifests\/\*$/,
    reason:
      'rewrites the manifest of a large submission whose archive is missing once its build cannot be running any more ' +
      "(older than the archiver's 15-minute timeout, lib/fileserver/archive-refresh.ts): a run would have to wait that long",
  },
];

export interface Grant {
  action: string;
  resource: string;
}

export interface FunctionReport {
  fn: string;
  calls: number;
  /** Distinct (action, resource) pairs the calls made. */
  distinct: number;
  denied: { call: AwsCall; result: string }[];
  unused: { grant: Grant; reason: string | undefined }[];
}

export async function checkCalls(
  template: DeployedTemplate,
  functions: FunctionSpec[],
  calls: AwsCall[],
): Promise<FunctionReport[]> {
  const bucketId = template.bucketLogicalId();
  const bucketPolicy = template
    .ofType('AWS::S3::BucketPolicy')
    .find(([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }))?.[1];
  const resourcePolicy = bucketPolicy
    ? (template.resolve(bucketPolicy.Properties.PolicyDocument) as Record<string, unknown>)
    : undefined;
  const reports: FunctionReport[] = [];
  for (const fn of functions) {
    const policies = template.rolePolicies(fn.roleLogicalId);
    const managed = template.managedPolicyArns(fn.roleLogicalId);
    if (managed.length > 0)
      throw new Error(`${fn.logicalId}'s role attaches managed policies (${managed}); add them here`);
    const principal = template.arn(fn.roleLogicalId).replace(':role/', ':assumed-role/').concat(`/${fn.name}`);
    const mine = calls.filter((c) => c.fn === fn.logicalId);
    const seen = new Map<string, AwsCall>();
    for (const call of mine) seen.set(`${call.action} ${call.resource}`, call);
    const denied: FunctionReport['denied'] = [];
    for (const call of seen.values()) {
      const simulation: Simulation = {
        request: {
          principal,
          action: call.action,
          resource: { resource: call.resource, accountId: template.account.accountId },
          // In AWS every call goes over HTTPS (the SDK's default, and the presigned URLs are https): the bucket
          // policy's TLS-only statement must not deny them.
          contextVariables: { 'aws:SecureTransport': 'true' },
        },
        identityPolicies: policies.map((p) => ({ name: p.name, policy: { Version: '2012-10-17', ...p.document } })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(call.service === 's3' && resourcePolicy ? { resourcePolicy } : {}),
      } as Simulation;
      const result = await runSimulation(simulation, {});
      if (result.resultType === 'error') {
        denied.push({ call, result: `simulator refused the request: ${JSON.stringify(result.errors)}` });
      } else if (result.overallResult !== 'Allowed') {
        denied.push({ call, result: result.overallResult });
      }
    }
    const grants = policies.flatMap((p) => grantsOf(p.document.Statement));
    const unused = grants
      .filter((g) => ![...seen.values()].some((c) => matches(g.action, c.action) && matches(g.resource, c.resource)))
      .map((grant) => ({
        grant,
        reason: NEEDED_WITHOUT_A_CALL.find(
          (n) => (n.fn === undefined || n.fn === fn.logicalId) && n.match.test(`${grant.action} ${grant.resource}`),
        )?.reason,
      }));
    reports.push({ fn: fn.logicalId, calls: mine.length, distinct: seen.size, denied, unused });
  }
  return reports;
}

function grantsOf(statements: unknown[]): Grant[] {
  const grants: Grant[] = [];
  for (const s of statements as { Effect: string; Action: string | string[]; Resource: string | string[] }[]) {
    if (s.Effect !== 'Allow') continue;
    for (const action of ([] as string[]).concat(s.Action)) {
      for (const resource of ([] as string[]).concat(s.Resource)) grants.push({ action, resource });
    }
  }
  return grants;
}

/** IAM's wildcard matching (`*` any run, `?` one character), case-sensitive as for resources. */
function matches(pattern: string, value: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(value);
}
