/**
 * Three things AWS refuses at deploy time and LocalStack's CloudFormation does not (docs/deploy.md, "What CI
 * proves"), so the emulated `osls deploy` of `npm run test:deployed` cannot show them; they are checked on the
 * template instead (test/deploy/template.test.ts, on the packaged template and on copies with each piece removed):
 *
 * - S3 checks, when it stores a bucket's notification configuration, that it may invoke each target function
 *   ("Unable to validate the following destination configurations"): each needs an AWS::Lambda::Permission for
 *   s3.amazonaws.com scoped to this bucket (SourceArn) and account (SourceAccount), created before the bucket.
 * - Lambda checks, when it stores an EventInvokeConfig, that the function's role may send to the on-failure
 *   destination ("The function's execution role does not have permissions to call SendMessage").
 * - API Gateway will not deploy a PRIVATE API without a resource policy; this one must admit exactly the given VPC
 *   endpoints (aws:SourceVpce), nothing else.
 */
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import type { CfnResource, CfnTemplate } from '../../scripts/package-service';
import { DeployedTemplate } from '../deployed/template';

/** Any account will do: the checks compare expressions resolved for the same account. */
const STAND_IN = { region: 'eu-west-1', accountId: '123456789012', partition: 'aws', stage: 'dev' };

type Json = Record<string, unknown>;

const ofType = (template: CfnTemplate, type: string): [string, CfnResource][] =>
  Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const getAttOf = (value: unknown): string | undefined =>
  (value as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt']?.[0];
const list = (value: unknown): unknown[] => ([] as unknown[]).concat(value ?? []);

/** Every notification target without a permission S3 accepts. */
export function s3TargetsWithoutPermission(template: CfnTemplate): string[] {
  const resolved = new DeployedTemplate(template, STAND_IN);
  const problems: string[] = [];
  for (const [bucketId, bucket] of ofType(template, 'AWS::S3::Bucket')) {
    const configs = list(
      (bucket.Properties.NotificationConfiguration as { LambdaConfigurations?: unknown } | undefined)
        ?.LambdaConfigurations,
    ) as Json[];
    if (configs.length === 0) continue;
    const bucketArn = `arn:aws:s3:::${resolved.resolveString(bucket.Properties.BucketName)}`;
    for (const config of configs) {
      const target = getAttOf(config.Function);
      if (!target) {
        problems.push(`${bucketId} notifies ${JSON.stringify(config.Function)}, not a function of this template`);
        continue;
      }
      const permissions = ofType(template, 'AWS::Lambda::Permission').filter(
        ([, p]) =>
          p.Properties.Principal === 's3.amazonaws.com' &&
          p.Properties.Action === 'lambda:InvokeFunction' &&
          (getAttOf(p.Properties.FunctionName) === target ||
            (p.Properties.FunctionName as { Ref?: string })?.Ref === target),
      );
      const scoped = permissions.filter(
        ([, p]) =>
          p.Properties.SourceArn !== undefined &&
          resolved.resolveString(p.Properties.SourceArn) === bucketArn &&
          JSON.stringify(p.Properties.SourceAccount) === JSON.stringify({ Ref: 'AWS::AccountId' }),
      );
      if (scoped.length === 0) {
        problems.push(
          permissions.length === 0
            ? `${bucketId} notifies ${target}, and no permission lets s3.amazonaws.com invoke it`
            : `${bucketId} notifies ${target}, and no permission for s3.amazonaws.com names this bucket (SourceArn ${bucketArn}) and account (SourceAccount)`,
        );
        continue;
      }
      const dependsOn = list(bucket.DependsOn);
      if (!scoped.some(([id]) => dependsOn.includes(id))) {
        problems.push(`${bucketId} does not wait for the permission that lets S3 invoke ${target} (DependsOn)`);
      }
    }
  }
  return problems;
}

/** Every on-failure destination the function's role may not send to (simulated against the role's policies). */
export async function destinationsTheRoleCannotReach(template: CfnTemplate): Promise<string[]> {
  const resolved = new DeployedTemplate(template, STAND_IN);
  const problems: string[] = [];
  for (const [configId, config] of ofType(template, 'AWS::Lambda::EventInvokeConfig')) {
    const destination = (config.Properties.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
      ?.OnFailure?.Destination;
    if (destination === undefined) continue;
    const fnId = (config.Properties.FunctionName as { Ref?: string }).Ref;
    const fn = fnId ? template.Resources[fnId] : undefined;
    const roleId = getAttOf(fn?.Properties.Role);
    if (!fnId || !roleId) {
      problems.push(`${configId}: its function's role is not a role of this template`);
      continue;
    }
    const queueArn = resolved.resolveString(destination);
    if (!queueArn.startsWith('arn:aws:sqs:')) {
      problems.push(`${configId}: the on-failure destination ${queueArn} is not an SQS queue (this check knows SQS)`);
      continue;
    }
    const simulation = {
      request: {
        principal: resolved.arn(roleId).replace(':role/', ':assumed-role/').concat(`/${fnId}`),
        action: 'sqs:SendMessage',
        resource: { resource: queueArn, accountId: STAND_IN.accountId },
        contextVariables: {},
      },
      identityPolicies: resolved
        .rolePolicies(roleId)
        .map((p) => ({ name: p.name, policy: { Version: '2012-10-17', ...p.document } })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    } as Simulation;
    const result = await runSimulation(simulation, {});
    if (result.resultType === 'error' || result.overallResult !== 'Allowed') {
      problems.push(`${configId}: ${roleId} may not sqs:SendMessage to its on-failure destination ${queueArn}`);
    }
  }
  return problems;
}

/** A PRIVATE API whose resource policy is missing, or admits anything but exactly the given VPC endpoints. */
export function privateApiPolicyProblems(template: CfnTemplate, vpcEndpointIds: readonly string[]): string[] {
  const problems: string[] = [];
  const wanted = [...vpcEndpointIds].sort();
  for (const [apiId, api] of ofType(template, 'AWS::ApiGateway::RestApi')) {
    const endpoint = api.Properties.EndpointConfiguration as { Types?: string[]; VpcEndpointIds?: string[] };
    if (!list(endpoint?.Types).includes('PRIVATE')) continue;
    const configured = (list(endpoint.VpcEndpointIds) as string[]).slice().sort();
    if (JSON.stringify(configured) !== JSON.stringify(wanted)) {
      problems.push(`${apiId} is associated with ${configured.join(', ') || 'no VPC endpoint'}, not ${wanted}`);
    }
    const statements = list((api.Properties.Policy as { Statement?: unknown } | undefined)?.Statement) as Json[];
    const allows = statements.filter((s) => s.Effect === 'Allow');
    if (allows.length === 0) {
      problems.push(`${apiId} is PRIVATE and has no resource policy that allows execute-api:Invoke`);
      continue;
    }
    for (const statement of allows) {
      const condition = (statement.Condition ?? {}) as Record<string, Record<string, unknown>>;
      const sourceVpce = Object.entries(condition.StringEquals ?? {}).find(
        ([key]) => key.toLowerCase() === 'aws:sourcevpce',
      )?.[1];
      const admitted = (list(sourceVpce) as string[]).slice().sort();
      if (JSON.stringify(admitted) !== JSON.stringify(wanted)) {
        problems.push(
          `${apiId}'s resource policy allows ${JSON.stringify(statement.Action)} for ` +
            `${admitted.length === 0 ? 'any caller' : admitted.join(', ')}, not only through ${wanted.join(', ')} (aws:SourceVpce)`,
        );
      }
    }
  }
  return problems;
}
