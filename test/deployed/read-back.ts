/**
 * After `osls deploy` into LocalStack (osls-deploy.ts): the resources read back from each service, compared with
 * what the template asked for. Only what LocalStack's CloudFormation applies is compared; what it silently leaves out
 * is listed in NOT_APPLIED (docs/deploy.md, "What CI proves"), and what AWS would refuse and LocalStack accepts is
 * checked on the template (test/deploy/aws-refusals.ts).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type APIGatewayClient, GetGatewayResponsesCommand, GetRestApiCommand } from '@aws-sdk/client-api-gateway';
import { GetRoleCommand, GetRolePolicyCommand, type IAMClient, ListRolePoliciesCommand } from '@aws-sdk/client-iam';
import {
  GetFunctionConfigurationCommand,
  GetFunctionEventInvokeConfigCommand,
  GetPolicyCommand,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { GetBucketNotificationConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { StackOutcome } from './osls-deploy';
import type { DeployedTemplate } from './template';

/** What LocalStack 4.14's CloudFormation accepts in the template and does not apply, so nothing here compares it. */
export const NOT_APPLIED = [
  "the bucket's lifecycle rules (GetBucketLifecycleConfiguration: NoSuchLifecycleConfiguration)",
  "the log groups' retention",
  "the archiver's reserved concurrency (when archiverReservedConcurrency is given)",
  "the stage's access-log setting (when apiAccessLogs is on)",
  "the SourceAccount condition of S3's invoke permission (only SourceArn is kept)",
  'metric-math alarms (the throttles alarm)',
];

export interface Comparison {
  resource: string;
  property: string;
  expected: unknown;
  actual: unknown;
  ok: boolean;
}

export interface Clients {
  s3: S3Client;
  lambda: LambdaClient;
  apiGateway: APIGatewayClient;
  sqs: SQSClient;
  iam: IAMClient;
}

export async function readBack(
  template: DeployedTemplate,
  stack: StackOutcome,
  clients: Clients,
  /** The service copy osls deployed from: its `.serverless/` holds the zips it uploaded. */
  deployedFrom: string,
): Promise<Comparison[]> {
  const rows: Comparison[] = [];
  const compare = (resource: string, property: string, expected: unknown, actual: unknown): void => {
    rows.push({ resource, property, expected, actual, ok: JSON.stringify(expected) === JSON.stringify(actual) });
  };
  const physical = (logicalId: string): string => {
    const id = stack.resources.get(logicalId)?.PhysicalResourceId;
    if (!id) throw new Error(`the stack has no ${logicalId}`);
    return id;
  };

  // The bucket and its notification of the archiver, with the key filter.
  const bucketId = template.bucketLogicalId();
  const bucket = physical(bucketId);
  compare(bucketId, 'BucketName', template.resolveString(template.resource(bucketId).Properties.BucketName), bucket);
  const notifications = await clients.s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: bucket }));
  compare(
    bucketId,
    'NotificationConfiguration (Lambda)',
    template.s3Notifications().map((n) => ({
      events: [n.event],
      function: template.arn(n.functionLogicalId),
      filter: n.filterRules.map((r) => `${r.Name.toLowerCase()}=${r.Value}`).sort(),
    })),
    (notifications.LambdaFunctionConfigurations ?? []).map((n) => ({
      events: n.Events,
      function: n.LambdaFunctionArn,
      filter: (n.Filter?.Key?.FilterRules ?? []).map((r) => `${String(r.Name).toLowerCase()}=${r.Value}`).sort(),
    })),
  );
  compare(
    bucketId,
    'other notifications (queues, topics)',
    [],
    [...(notifications.QueueConfigurations ?? []), ...(notifications.TopicConfigurations ?? [])],
  );

  // S3's permission to invoke each notified function, scoped to this bucket.
  for (const n of template.s3Notifications()) {
    const name = template.resolveString(template.resource(n.functionLogicalId).Properties.FunctionName);
    const { Policy = '{}' } = await clients.lambda.send(new GetPolicyCommand({ FunctionName: name }));
    const statements = (JSON.parse(Policy) as { Statement?: Record<string, unknown>[] }).Statement ?? [];
    compare(
      n.functionLogicalId,
      'invoke permission for s3.amazonaws.com (SourceArn)',
      [`arn:aws:s3:::${bucket}`],
      statements
        .filter((s) => JSON.stringify(s.Principal).includes('s3.amazonaws.com') && s.Action === 'lambda:InvokeFunction')
        .map((s) => (s.Condition as { ArnLike?: Record<string, string> } | undefined)?.ArnLike?.['AWS:SourceArn']),
    );
  }

  // The private API: its endpoint type and VPC endpoints, its resource policy, its binary media types.
  const apiId = 'ApiGatewayRestApi';
  const api = await clients.apiGateway.send(new GetRestApiCommand({ restApiId: physical(apiId) }));
  const wanted = template.resolve(template.resource(apiId).Properties) as {
    EndpointConfiguration: { Types: string[]; VpcEndpointIds: string[] };
    Policy: { Statement: Record<string, unknown>[] };
    BinaryMediaTypes: string[];
  };
  compare(apiId, 'endpoint types', wanted.EndpointConfiguration.Types, api.endpointConfiguration?.types);
  compare(
    apiId,
    'VPC endpoints',
    wanted.EndpointConfiguration.VpcEndpointIds,
    api.endpointConfiguration?.vpcEndpointIds,
  );
  compare(apiId, 'resource policy', normalisePolicy(wanted.Policy), normalisePolicy(parseApiPolicy(api.policy)));
  compare(apiId, 'binary media types', wanted.BinaryMediaTypes, api.binaryMediaTypes);
  const responses = await clients.apiGateway.send(new GetGatewayResponsesCommand({ restApiId: physical(apiId) }));
  for (const [, response] of template.ofType('AWS::ApiGateway::GatewayResponse')) {
    const type = response.Properties.ResponseType as string;
    const found = responses.items?.find((r) => r.responseType === type);
    compare(
      apiId,
      `gateway response ${type}`,
      { status: response.Properties.StatusCode, templates: response.Properties.ResponseTemplates },
      { status: found?.statusCode, templates: found?.responseTemplates },
    );
  }

  // The archiver's asynchronous invocation: retries, event age, and the on-failure destination (the queue).
  for (const [configId, config] of template.ofType('AWS::Lambda::EventInvokeConfig')) {
    const fnId = (config.Properties.FunctionName as { Ref: string }).Ref;
    const actual = await clients.lambda.send(
      new GetFunctionEventInvokeConfigCommand({
        FunctionName: template.resolveString(template.resource(fnId).Properties.FunctionName),
        Qualifier: config.Properties.Qualifier as string,
      }),
    );
    const expected = template.resolve({
      retries: config.Properties.MaximumRetryAttempts,
      maxAge: config.Properties.MaximumEventAgeInSeconds,
      onFailure: (config.Properties.DestinationConfig as { OnFailure?: { Destination?: unknown } }).OnFailure
        ?.Destination,
    });
    compare(configId, 'retries, event age, on-failure destination', expected, {
      retries: actual.MaximumRetryAttempts,
      maxAge: actual.MaximumEventAgeInSeconds,
      onFailure: actual.DestinationConfig?.OnFailure?.Destination,
    });
  }
  for (const [queueId, queue] of template.ofType('AWS::SQS::Queue')) {
    const name = template.resolveString(queue.Properties.QueueName);
    const { QueueUrl } = await clients.sqs.send(new GetQueueUrlCommand({ QueueName: name }));
    const { Attributes = {} } = await clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn', 'MessageRetentionPeriod'] }),
    );
    compare(
      queueId,
      'ARN, message retention',
      { arn: template.arn(queueId), retention: String(queue.Properties.MessageRetentionPeriod) },
      { arn: Attributes.QueueArn, retention: Attributes.MessageRetentionPeriod },
    );
  }

  // Every function: runtime, handler, memory, timeout, role, environment, and the code osls uploaded.
  for (const spec of template.functions()) {
    const config = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: spec.name }));
    compare(
      spec.logicalId,
      'runtime, handler, memory, timeout',
      [spec.runtime, spec.handler, spec.memoryMb, spec.timeoutSeconds],
      [config.Runtime, config.Handler, config.MemorySize, config.Timeout],
    );
    compare(spec.logicalId, 'role', template.arn(spec.roleLogicalId), config.Role);
    compare(spec.logicalId, 'environment', sorted(spec.environment), sorted(config.Environment?.Variables ?? {}));
    const zip = await readFile(join(deployedFrom, '.serverless', spec.zip));
    compare(
      spec.logicalId,
      'code (SHA-256 of the zip)',
      createHash('sha256').update(zip).digest('base64'),
      config.CodeSha256,
    );
  }

  // Every role of the template: its inline policies as IAM holds them.
  for (const [roleId, role] of template.ofType('AWS::IAM::Role')) {
    const roleName = template.resolveString(role.Properties.RoleName);
    await clients.iam.send(new GetRoleCommand({ RoleName: roleName }));
    const { PolicyNames = [] } = await clients.iam.send(new ListRolePoliciesCommand({ RoleName: roleName }));
    const actual: Record<string, unknown> = {};
    for (const policyName of PolicyNames) {
      const { PolicyDocument = '' } = await clients.iam.send(
        new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }),
      );
      actual[policyName] = normalisePolicy(JSON.parse(decodeURIComponent(PolicyDocument)));
    }
    const expected = Object.fromEntries(
      template.rolePolicies(roleId).map((p) => [p.name, normalisePolicy(p.document)]),
    );
    compare(roleId, 'inline policies', expected, actual);
  }
  return rows;
}

/** API Gateway returns the policy as a JSON string with its quotes escaped once more. */
function parseApiPolicy(policy: string | undefined): unknown {
  if (!policy) return undefined;
  return JSON.parse(policy.replace(/\\"/g, '"').replace(/\\\\/g, '\\'));
}

/** A policy's statements with single values as one-element lists and keys sorted, for comparison. */
function normalisePolicy(policy: unknown): unknown {
  const statements = ((policy as { Statement?: unknown[] } | undefined)?.Statement ?? []) as Record<string, unknown>[];
  const list = (value: unknown): unknown[] => ([] as unknown[]).concat(value ?? []);
  return statements.map((s) =>
    sorted({
      Effect: s.Effect,
      Principal: s.Principal,
      Action: list(s.Action),
      Resource: list(s.Resource),
      ...(s.Condition ? { Condition: deepSorted(s.Condition) } : {}),
    }),
  );
}

function sorted(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

function deepSorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(deepSorted);
  if (value && typeof value === 'object') {
    return sorted(Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepSorted(v)])));
  }
  return value;
}
