/**
 * What the "as deployed" tier reads from the generated CloudFormation template, and nothing from serverless.yml:
 * each function's handler, environment, memory, timeout and role; the API's resources, methods and gateway
 * responses; the bucket's notification configuration; the archiver's asynchronous invocation settings.
 */
import type { CfnResource, CfnTemplate } from '../../scripts/package-service';

/** Values of the pseudo parameters and attributes the tier's stand-in account has. */
export interface Account {
  region: string;
  accountId: string;
  partition: string;
  stage: string;
}

export interface FunctionSpec {
  logicalId: string;
  /** The physical name (`FunctionName`), e.g. `recodex-fileserver-dev-status`. */
  name: string;
  /** `Code.S3Key`'s file name: the zip osls wrote for this function. */
  zip: string;
  handler: string;
  runtime: string;
  memoryMb: number;
  timeoutSeconds: number;
  environment: Record<string, string>;
  roleLogicalId: string;
}

export interface RouteSpec {
  /** e.g. `/submissions/{id+}` */
  resource: string;
  method: string;
  /** Logical id of the function the AWS_PROXY integration invokes. */
  functionLogicalId: string;
}

export interface GatewayResponseSpec {
  status: number;
  body: string;
  contentType: string;
}

export interface S3NotificationSpec {
  event: string;
  functionLogicalId: string;
  filterRules: { Name: string; Value: string }[];
}

export interface AsyncInvokeSpec {
  maximumRetryAttempts: number;
  maximumEventAgeSeconds: number;
  /** Logical id of the SQS queue of the on-failure destination, if any. */
  onFailureQueueLogicalId: string | undefined;
}

export class DeployedTemplate {
  constructor(
    readonly template: CfnTemplate,
    readonly account: Account,
  ) {}

  get resources(): Record<string, CfnResource> {
    return this.template.Resources;
  }

  ofType(type: string): [string, CfnResource][] {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type);
  }

  resource(logicalId: string): CfnResource {
    const found = this.resources[logicalId];
    if (!found) throw new Error(`the template has no resource ${logicalId}`);
    return found;
  }

  /**
   * An expression with the stand-in account's values: literals, `Ref` (pseudo parameters, and resources whose Ref
   * is their name), `Fn::Join`, `Fn::Sub` without a variable map, `Fn::GetAtt … Arn` of functions, queues, topics
   * and roles. Anything else is an error: the tier must not guess.
   */
  resolve(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((item) => this.resolve(item));
    const node = value as Record<string, unknown>;
    const keys = Object.keys(node);
    if (keys.length === 1 && keys[0] === 'Ref') return this.ref(node.Ref as string);
    if (keys.length === 1 && keys[0] === 'Fn::Join') {
      const [separator, parts] = node['Fn::Join'] as [string, unknown[]];
      return (this.resolve(parts) as unknown[]).map(String).join(separator);
    }
    if (keys.length === 1 && keys[0] === 'Fn::Sub' && typeof node['Fn::Sub'] === 'string') {
      return (node['Fn::Sub'] as string).replace(/\$\{([^}]+)\}/g, (_, name: string) =>
        name.includes('.') ? this.arn(name.split('.')[0] as string) : String(this.ref(name)),
      );
    }
    if (keys.length === 1 && keys[0] === 'Fn::GetAtt') {
      const [id, attribute] = node['Fn::GetAtt'] as [string, string];
      if (attribute !== 'Arn') throw new Error(`cannot resolve Fn::GetAtt ${id}.${attribute}`);
      return this.arn(id);
    }
    if (keys.some((key) => key.startsWith('Fn::'))) throw new Error(`cannot resolve ${JSON.stringify(value)}`);
    return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, this.resolve(item)]));
  }

  resolveString(value: unknown): string {
    const resolved = this.resolve(value);
    if (typeof resolved !== 'string' && typeof resolved !== 'number') {
      throw new Error(`expected a string, got ${JSON.stringify(value)}`);
    }
    return String(resolved);
  }

  private ref(name: string): unknown {
    const { region, accountId, partition } = this.account;
    const pseudo: Record<string, string> = {
      'AWS::Region': region,
      'AWS::AccountId': accountId,
      'AWS::Partition': partition,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': `recodex-fileserver-${this.account.stage}`,
    };
    if (pseudo[name] !== undefined) return pseudo[name];
    const resource = this.resource(name);
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        return this.resolveString(resource.Properties.BucketName);
      case 'AWS::Lambda::Function':
        return this.resolveString(resource.Properties.FunctionName);
      case 'AWS::SQS::Queue':
        return `https://sqs.${region}.amazonaws.com/${accountId}/${this.resolveString(resource.Properties.QueueName)}`;
      case 'AWS::SNS::Topic':
        return this.arn(name);
      default:
        throw new Error(`cannot resolve Ref ${name} (${resource.Type})`);
    }
  }

  /** The ARN of a resource of the template, as AWS would name it. */
  arn(logicalId: string): string {
    const { region, accountId, partition } = this.account;
    const resource = this.resource(logicalId);
    const name = (property: string): string => this.resolveString(resource.Properties[property]);
    switch (resource.Type) {
      case 'AWS::Lambda::Function':
        return `arn:${partition}:lambda:${region}:${accountId}:function:${name('FunctionName')}`;
      case 'AWS::SQS::Queue':
        return `arn:${partition}:sqs:${region}:${accountId}:${name('QueueName')}`;
      case 'AWS::SNS::Topic':
        return `arn:${partition}:sns:${region}:${accountId}:${name('TopicName')}`;
      case 'AWS::IAM::Role':
        return `arn:${partition}:iam::${accountId}:role${this.resolveString(resource.Properties.Path ?? '/')}${name('RoleName')}`;
      case 'AWS::S3::Bucket':
        return `arn:${partition}:s3:::${name('BucketName')}`;
      case 'AWS::Logs::LogGroup':
        return `arn:${partition}:logs:${region}:${accountId}:log-group:${name('LogGroupName')}:*`;
      default:
        throw new Error(`cannot name the ARN of ${logicalId} (${resource.Type})`);
    }
  }

  functions(): FunctionSpec[] {
    return this.ofType('AWS::Lambda::Function').map(([logicalId, fn]) => {
      const p = fn.Properties;
      const code = p.Code as { S3Key?: string };
      const variables = ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
        {}) as Record<string, unknown>;
      const role = p.Role as { 'Fn::GetAtt'?: [string, string] };
      const roleLogicalId = role['Fn::GetAtt']?.[0];
      if (!roleLogicalId) throw new Error(`${logicalId}'s Role is not a role of the template`);
      return {
        logicalId,
        name: this.resolveString(p.FunctionName),
        zip: String(code.S3Key).split('/').pop() as string,
        handler: String(p.Handler),
        runtime: String(p.Runtime),
        // CloudFormation's defaults, should a property be missing (AWS::Lambda::Function reference).
        memoryMb: Number(p.MemorySize ?? 128),
        timeoutSeconds: Number(p.Timeout ?? 3),
        environment: Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, this.resolveString(v)])),
        roleLogicalId,
      };
    });
  }

  /** Every API route: the path built from each Method's Resource chain, and the function its integration invokes. */
  routes(): RouteSpec[] {
    return this.ofType('AWS::ApiGateway::Method').map(([id, method]) => {
      const integration = method.Properties.Integration as { Type?: string; Uri?: unknown };
      if (integration.Type !== 'AWS_PROXY') throw new Error(`${id} is not a Lambda proxy integration`);
      const target = JSON.stringify(integration.Uri).match(/"Fn::GetAtt":\["(\w+)","Arn"\]/)?.[1];
      if (!target) throw new Error(`${id}'s integration names no function of the template`);
      return {
        resource: this.resourcePath(method.Properties.ResourceId),
        method: String(method.Properties.HttpMethod),
        functionLogicalId: target,
      };
    });
  }

  private resourcePath(id: unknown): string {
    if (JSON.stringify(id).includes('RootResourceId')) return '/';
    const name = (id as { Ref?: string }).Ref;
    if (!name) throw new Error(`unexpected ResourceId ${JSON.stringify(id)}`);
    const node = this.resource(name);
    const parent = this.resourcePath(node.Properties.ParentId);
    return `${parent === '/' ? '' : parent}/${node.Properties.PathPart as string}`;
  }

  gatewayResponse(type: string): GatewayResponseSpec | undefined {
    const found = this.ofType('AWS::ApiGateway::GatewayResponse').find(([, r]) => r.Properties.ResponseType === type);
    if (!found) return undefined;
    const templates = (found[1].Properties.ResponseTemplates ?? {}) as Record<string, string>;
    const [contentType, body] = Object.entries(templates)[0] ?? ['application/json', ''];
    return { status: Number(found[1].Properties.StatusCode), body, contentType };
  }

  bucketLogicalId(): string {
    const buckets = this.ofType('AWS::S3::Bucket').filter(([, b]) => b.Properties.NotificationConfiguration);
    if (buckets.length !== 1) throw new Error(`expected one bucket with notifications, found ${buckets.length}`);
    return (buckets[0] as [string, CfnResource])[0];
  }

  s3Notifications(): S3NotificationSpec[] {
    const config = this.resource(this.bucketLogicalId()).Properties.NotificationConfiguration as {
      LambdaConfigurations?: { Event: string; Function: unknown; Filter?: { S3Key?: { Rules?: unknown[] } } }[];
    };
    return (config.LambdaConfigurations ?? []).map((c) => {
      const target = (c.Function as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0];
      if (!target) throw new Error('a notification names no function of the template');
      return {
        event: c.Event,
        functionLogicalId: target,
        filterRules: (c.Filter?.S3Key?.Rules ?? []) as { Name: string; Value: string }[],
      };
    });
  }

  /** The function's EventInvokeConfig, or Lambda's defaults (2 retries, 6 hours, no destination). */
  asyncInvoke(functionLogicalId: string): AsyncInvokeSpec {
    const config = this.ofType('AWS::Lambda::EventInvokeConfig').find(
      ([, c]) => JSON.stringify(c.Properties.FunctionName) === JSON.stringify({ Ref: functionLogicalId }),
    )?.[1];
    if (!config) return { maximumRetryAttempts: 2, maximumEventAgeSeconds: 21_600, onFailureQueueLogicalId: undefined };
    const destination = (config.Properties.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
      ?.OnFailure?.Destination as { 'Fn::GetAtt'?: [string, string] } | undefined;
    return {
      maximumRetryAttempts: Number(config.Properties.MaximumRetryAttempts ?? 2),
      maximumEventAgeSeconds: Number(config.Properties.MaximumEventAgeInSeconds ?? 21_600),
      onFailureQueueLogicalId: destination?.['Fn::GetAtt']?.[0],
    };
  }

  /** The inline policies of a role, resolved. */
  rolePolicies(roleLogicalId: string): { name: string; document: { Version?: string; Statement: unknown[] } }[] {
    const role = this.resource(roleLogicalId);
    const policies = (role.Properties.Policies ?? []) as { PolicyName: unknown; PolicyDocument: unknown }[];
    return policies.map((p) => ({
      name: this.resolveString(p.PolicyName),
      document: this.resolve(p.PolicyDocument) as { Version?: string; Statement: unknown[] },
    }));
  }

  managedPolicyArns(roleLogicalId: string): string[] {
    const arns = (this.resource(roleLogicalId).Properties.ManagedPolicyArns ?? []) as unknown[];
    return arns.map((arn) => this.resolveString(arn));
  }
}
