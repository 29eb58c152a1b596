/**
 * A local Serverless plugin: the parts of the production template that serverless.yml cannot say by itself, applied
 * to the compiled CloudFormation template after the framework and its plugins have written it (docs/deploy.md).
 *
 * - `vpcEndpointIds` takes a comma-separated list (`--param=vpcEndpointIds=vpce-a,vpce-b`): the API's endpoint
 *   configuration and its resource policy's `aws:SourceVpce` condition both get every id.
 * - The framework's default role is removed when no function uses it (each has its own role,
 *   serverless-iam-roles-per-function), and a function's DependsOn no longer repeats the role its `Role` already
 *   references (cfn-lint W3005).
 * - The gateway responses are part of the first deployment: the API Gateway Deployment depends on them, otherwise
 *   the first stage snapshot may be taken before they exist and answer unknown routes with API Gateway's 403.
 * - Outputs: the base URL for the ReCodEx API's and workers' configuration, in the private-DNS form and in the
 *   form specific to each VPC endpoint (for VPCs without private DNS on the endpoint).
 * - With apiAccessLogs=true, the stage writes JSON access logs to ApiAccessLogGroup (serverless.yml). The stage is
 *   the Deployment's (osls makes a new Deployment on every deploy), so its StageDescription carries the setting.
 * - A Lambda throttles alarm over every function of the stack; with alarmTopicArn, every alarm notifies that topic.
 * - The default bucket name ends in the account id and the region: the placeholder deploy/bucket-name.js leaves in
 *   it becomes `${AWS::AccountId}-${AWS::Region}` wherever the name appears (Fn::Sub).
 * - A bucket waits for the EventInvokeConfig of every function it notifies: the invoke config (checked by Lambda
 *   against the function's role, which may be seconds old) then exists before the bucket, so a failure there leaves
 *   no bucket behind, and no S3 event reaches the function before its retry and failure settings do.
 * - Numbers where CloudFormation wants numbers: `--param` values arrive as strings (cfn-lint E3012 in strict mode).
 * - The dashboard's widgets, and with tracing=true active tracing of the functions and the stage
 *   (deploy/observability.js).
 * - The skips of deploy/template-checks.yml, written into the resources' Metadata for cfn-lint and checkov.
 */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { parse } = require('yaml');
const { ACCOUNT_REGION_PLACEHOLDER } = require('./bucket-name');
const { addDashboard, applyTracing, tracingOn } = require('./observability');

class ProductionTemplate {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      initialize: () => this.splitVpcEndpointIds(),
      'before:aws:package:finalize:saveServiceState': () => this.finish(),
    };
  }

  splitVpcEndpointIds() {
    const provider = this.serverless.service.provider;
    const split = (ids) =>
      (Array.isArray(ids) ? ids : [ids])
        .flatMap((id) => (typeof id === 'string' ? id.split(',') : [id]))
        .map((id) => (typeof id === 'string' ? id.trim() : id))
        .filter((id) => id !== '');
    provider.vpcEndpointIds = split(provider.vpcEndpointIds ?? []);
    for (const statement of provider.apiGateway?.resourcePolicy ?? []) {
      const equals = statement.Condition?.StringEquals;
      if (equals?.['aws:SourceVpce'] !== undefined) equals['aws:SourceVpce'] = split(equals['aws:SourceVpce']);
    }
  }

  finish() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    accountRegionalBucketName(template, this.serverless.service.custom?.bucket, ACCOUNT_REGION_PLACEHOLDER);
    bucketsWaitForInvokeConfigs(template);
    numbersWhereNumbersGo(template);
    dropUnusedDefaultRole(template);
    dropRedundantDependsOn(template);
    gatewayResponsesInFirstDeployment(template);
    accessLogsOfTheStage(template);
    addBaseUrlOutputs(template, this.serverless.service.provider);
    addThrottlesAlarm(template);
    notifyAlarmTopic(template, this.serverless.service.custom?.alarmTopicArn ?? '');
    addDashboard(template, this.serverless.service.provider.environment?.METRICS_NAMESPACE);
    applyTracing(template, tracingOn(this.serverless.service.custom?.tracing));
    applyCheckSkips(template, join(this.serverless.serviceDir, 'deploy/template-checks.yml'));
  }
}

function resourcesOfType(template, type) {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

/**
 * Every occurrence of the default bucket name (ARNs in roles and policies, the permission's SourceArn, the functions'
 * BUCKET) gets the account id and region from CloudFormation: the string becomes an Fn::Sub (any other `${` in it
 * escaped as `${!`), or, inside an Fn::Sub already, is rewritten in place.
 */
function accountRegionalBucketName(template, bucket, placeholder) {
  if (typeof bucket !== 'string' || !placeholder || !bucket.endsWith(`-${placeholder}`)) return;
  const named = bucket.replace(placeholder, `\${AWS::AccountId}-\${AWS::Region}`); // Fn::Sub's syntax
  const rewrite = (node) => {
    if (typeof node === 'string') {
      return node.includes(bucket) ? { 'Fn::Sub': node.replaceAll('${', '${!').replaceAll(bucket, named) } : node;
    }
    if (Array.isArray(node)) return node.map(rewrite);
    if (!node || typeof node !== 'object') return node;
    if (node['Fn::Sub'] !== undefined) {
      const sub = node['Fn::Sub'];
      if (typeof sub === 'string') return { 'Fn::Sub': sub.replaceAll(bucket, named) };
      return { 'Fn::Sub': [sub[0].replaceAll(bucket, named), rewrite(sub[1])] };
    }
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, rewrite(value)]));
  };
  for (const resource of Object.values(template.Resources)) {
    if (resource.Properties) resource.Properties = rewrite(resource.Properties);
  }
  for (const output of Object.values(template.Outputs ?? {})) output.Value = rewrite(output.Value);
  const leftover = JSON.stringify({ Resources: template.Resources, Outputs: template.Outputs }).includes(placeholder);
  if (leftover) throw new Error(`the bucket name placeholder "${placeholder}" is left in the template`);
}

function bucketsWaitForInvokeConfigs(template) {
  const configs = resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig');
  for (const [, bucket] of resourcesOfType(template, 'AWS::S3::Bucket')) {
    const targets = (bucket.Properties.NotificationConfiguration?.LambdaConfigurations ?? []).map(
      (configuration) => configuration.Function?.['Fn::GetAtt']?.[0],
    );
    const waitFor = configs
      .filter(([, config]) => targets.includes(config.Properties.FunctionName?.Ref))
      .map(([id]) => id);
    if (waitFor.length === 0) continue;
    const dependsOn = [].concat(bucket.DependsOn ?? []);
    bucket.DependsOn = [...dependsOn, ...waitFor.filter((id) => !dependsOn.includes(id))];
  }
}

/**
 * The properties of this template that CloudFormation types as integers, converted from the strings `--param`
 * values arrive as (also inside Fn::If). Anything that is not a whole number stops packaging, naming the property.
 */
const INTEGER_PROPERTIES = {
  'AWS::S3::Bucket': [
    'LifecycleConfiguration.Rules.*.ExpirationInDays',
    'LifecycleConfiguration.Rules.*.NoncurrentVersionExpiration.NoncurrentDays',
    'LifecycleConfiguration.Rules.*.AbortIncompleteMultipartUpload.DaysAfterInitiation',
  ],
  'AWS::Logs::LogGroup': ['RetentionInDays'],
  'AWS::Lambda::Function': ['MemorySize', 'Timeout', 'ReservedConcurrentExecutions'],
  'AWS::Lambda::EventInvokeConfig': ['MaximumRetryAttempts', 'MaximumEventAgeInSeconds'],
  'AWS::SQS::Queue': ['MessageRetentionPeriod'],
};

function numbersWhereNumbersGo(template) {
  const integer = (value, where) => {
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value);
    const branches = value?.['Fn::If'];
    if (Array.isArray(branches) && branches.length === 3) {
      return { 'Fn::If': [branches[0], integer(branches[1], where), integer(branches[2], where)] };
    }
    if (value?.Ref === 'AWS::NoValue') return value;
    throw new Error(`${where} must be a whole number, not ${JSON.stringify(value)} (check the --param values)`);
  };
  const convert = (holder, path, where) => {
    if (!holder || typeof holder !== 'object') return;
    const [head, ...rest] = path;
    const keys = head === '*' ? Object.keys(holder) : [head];
    for (const key of keys) {
      if (holder[key] === undefined) continue;
      const at = head === '*' ? `${where}[${key}]` : `${where}.${key}`;
      if (rest.length === 0) holder[key] = integer(holder[key], at);
      else convert(holder[key], rest, at);
    }
  };
  for (const [type, paths] of Object.entries(INTEGER_PROPERTIES)) {
    for (const [id, resource] of resourcesOfType(template, type)) {
      for (const path of paths) convert(resource.Properties, path.split('.'), id);
    }
  }
}

function dropUnusedDefaultRole(template) {
  const id = 'IamRoleLambdaExecution';
  if (!template.Resources[id]) return;
  const text = JSON.stringify({ ...template.Resources, [id]: undefined, Outputs: template.Outputs });
  if (!text.includes(`"${id}"`)) delete template.Resources[id];
}

function dropRedundantDependsOn(template) {
  for (const [, fn] of resourcesOfType(template, 'AWS::Lambda::Function')) {
    const role = fn.Properties.Role?.['Fn::GetAtt']?.[0];
    if (!role || !Array.isArray(fn.DependsOn)) continue;
    fn.DependsOn = fn.DependsOn.filter((dependency) => dependency !== role);
  }
}

function gatewayResponsesInFirstDeployment(template) {
  const responses = resourcesOfType(template, 'AWS::ApiGateway::GatewayResponse').map(([id]) => id);
  for (const [, deployment] of resourcesOfType(template, 'AWS::ApiGateway::Deployment')) {
    const dependsOn = [].concat(deployment.DependsOn ?? []);
    deployment.DependsOn = [...dependsOn, ...responses.filter((id) => !dependsOn.includes(id))];
  }
}

/** One JSON object per request; no header values, so no credentials (API Gateway $context variables). */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  vpceId: '$context.identity.vpceId',
  sourceIp: '$context.identity.sourceIp',
  httpMethod: '$context.httpMethod',
  path: '$context.path',
  resourcePath: '$context.resourcePath',
  status: '$context.status',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  errorType: '$context.error.responseType',
});

function accessLogsOfTheStage(template) {
  const group = template.Resources.ApiAccessLogGroup;
  if (!group) return;
  for (const [, deployment] of resourcesOfType(template, 'AWS::ApiGateway::Deployment')) {
    if (deployment.Properties.StageDescription) throw new Error('the Deployment already has a StageDescription');
    deployment.Properties.StageDescription = {
      'Fn::If': [
        group.Condition,
        {
          AccessLogSetting: {
            DestinationArn: { 'Fn::GetAtt': ['ApiAccessLogGroup', 'Arn'] },
            Format: ACCESS_LOG_FORMAT,
          },
        },
        { Ref: 'AWS::NoValue' },
      ],
    };
  }
}

function addBaseUrlOutputs(template, provider) {
  if (!template.Resources.ApiGatewayRestApi) return;
  const stage = provider.stage;
  const host = (prefix) => ({
    'Fn::Join': [
      '',
      ['https://', ...prefix, '.execute-api.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, `/${stage}`],
    ],
  });
  template.Outputs ??= {};
  template.Outputs.BaseUrl = {
    Description:
      'The fileserver URL for the ReCodEx API (fileServer.address) and the workers (file-managers hostname), with the VPC endpoint private DNS on',
    Value: host([{ Ref: 'ApiGatewayRestApi' }]),
  };
  for (const id of provider.vpcEndpointIds ?? []) {
    const suffix = String(id)
      .replace(/^vpce-/, '')
      .replace(/[^A-Za-z0-9]/g, '');
    template.Outputs[`BaseUrlVpce${suffix}`] = {
      Description: `The fileserver URL through VPC endpoint ${id} by its endpoint-specific host name (works without private DNS)`,
      Value: host([{ Ref: 'ApiGatewayRestApi' }, `-${id}`]),
    };
  }
}

/**
 * Throttles of any of the stack's functions, summed by metric math (one alarm for all; an alarm takes at most 10
 * metrics, so past 9 functions it is one alarm per group of 9).
 */
function addThrottlesAlarm(template) {
  const functions = resourcesOfType(template, 'AWS::Lambda::Function').map(([id]) => id);
  for (let start = 0; start < functions.length; start += 9) {
    const group = functions.slice(start, start + 9);
    const metrics = group.map((id, index) => ({
      Id: `t${index}`,
      ReturnData: false,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/Lambda',
          MetricName: 'Throttles',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: id } }],
        },
        Period: 300,
        Stat: 'Sum',
      },
    }));
    const expression = group.map((_, index) => `t${index}`).join('+');
    template.Resources[`LambdaThrottlesAlarm${start === 0 ? '' : start / 9 + 1}`] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: {
        AlarmDescription: `Lambda throttled invocations of ${group.join(', ')}: the account's or a reserved concurrency limit was hit (docs/deploy.md, "Alarms")`,
        Metrics: [...metrics, { Id: 'throttles', Expression: expression, Label: 'Throttles', ReturnData: true }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      },
    };
  }
}

/** With alarmTopicArn, every alarm of the stack notifies that topic when it fires and when it clears. */
function notifyAlarmTopic(template, topicArn) {
  if (!topicArn) return;
  if (!/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]+$/.test(topicArn)) {
    throw new Error(`alarmTopicArn must be the ARN of an SNS topic, not ${JSON.stringify(topicArn)}`);
  }
  for (const [, alarm] of resourcesOfType(template, 'AWS::CloudWatch::Alarm')) {
    alarm.Properties.AlarmActions = [topicArn];
    alarm.Properties.OKActions = [topicArn];
  }
}

function applyCheckSkips(template, file) {
  const config = parse(readFileSync(file, 'utf8'));
  const unmatched = [];
  for (const skip of config['cfn-lint'] ?? []) {
    // Without `resources` the rule is skipped for the whole template (its findings are on Conditions or Outputs).
    const holders = skip.resources
      ? matching(template, skip.resources).map((id) => template.Resources[id])
      : [template];
    if (holders.length === 0) unmatched.push(`${skip.rule} ${skip.resources}`);
    for (const holder of holders) cfnLintIgnores(holder).push(skip.rule);
  }
  for (const skip of config.checkov ?? []) {
    const ids = matching(template, skip.resources);
    if (ids.length === 0) unmatched.push(`${skip.check} ${skip.resources}`);
    for (const id of ids) checkovSkips(template.Resources[id]).push({ id: skip.check, comment: skip.reason.trim() });
  }
  if (unmatched.length > 0) {
    throw new Error(`deploy/template-checks.yml: these skips match no resource (remove them): ${unmatched.join('; ')}`);
  }
}

/** `Metadata.cfn-lint.config.ignore_checks` of a resource or the template, created if missing. */
function cfnLintIgnores(holder) {
  holder.Metadata = holder.Metadata ?? {};
  holder.Metadata['cfn-lint'] = holder.Metadata['cfn-lint'] ?? {};
  const lint = holder.Metadata['cfn-lint'];
  lint.config = lint.config ?? {};
  lint.config.ignore_checks = lint.config.ignore_checks ?? [];
  return lint.config.ignore_checks;
}

/** `Metadata.checkov.skip` of a resource, created if missing. */
function checkovSkips(resource) {
  resource.Metadata = resource.Metadata ?? {};
  resource.Metadata.checkov = resource.Metadata.checkov ?? {};
  resource.Metadata.checkov.skip = resource.Metadata.checkov.skip ?? [];
  return resource.Metadata.checkov.skip;
}

function matching(template, patterns) {
  const regexes = patterns.map((pattern) => new RegExp(`^(?:${pattern})$`));
  return Object.keys(template.Resources).filter((id) => regexes.some((regex) => regex.test(id)));
}

module.exports = ProductionTemplate;
