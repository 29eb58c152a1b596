/**
 * The dashboard and the optional tracing of the stack (docs/deploy.md, "Dashboard" and "Tracing"), applied by
 * deploy/production-template.js to the compiled template.
 *
 * The dashboard plots the service's own metrics, which each request's and archive build's log line carries in
 * CloudWatch's embedded metric format (lib/util/metrics.ts), next to what AWS publishes about the functions and the
 * failure queue. A metric per route is found with a SEARCH expression over its dimensions, so a route needs no widget
 * of its own; `npm run test:deployed` checks that every metric and search plotted here matches one the packaged
 * functions emitted (test/deployed/dashboard-check.ts).
 */

const PERIOD = 300;

/** `${name}`: what Fn::Sub replaces with the named value when the stack is created. */
const substituted = (name) => `\${${name}}`;

/** A metric widget at (x, y), 8 columns of the dashboard's 24 wide and 6 rows high unless `size` says otherwise. */
function metricWidget(x, y, title, properties, size = {}) {
  return {
    type: 'metric',
    x,
    y,
    width: size.width ?? 8,
    height: size.height ?? 6,
    properties: {
      title,
      region: substituted('AWS::Region'),
      period: PERIOD,
      view: 'timeSeries',
      stacked: false,
      ...properties,
    },
  };
}

/**
 * A SEARCH expression over the service's metrics that have exactly `dimensions`, with exact matches (quoted) of the
 * metric name and of `filters`. The namespace is quoted too: it holds `-` and `/`, and a schema's names other than
 * alphanumeric ones must be (CloudWatch User Guide, "CloudWatch search expression syntax").
 */
function search(namespace, dimensions, metricName, filters, stat, id) {
  const terms = [`MetricName="${metricName}"`, ...Object.entries(filters).map(([key, value]) => `${key}="${value}"`)];
  const schema = [`"${namespace}"`, ...dimensions].join(',');
  return { expression: `SEARCH('{${schema}} ${terms.join(' ')}', '${stat}', ${PERIOD})`, id };
}

function widgets(namespace, functions, queue) {
  const routeAndClass = ['Route', 'StatusClass'];
  const perFunction = (metric, stat) =>
    functions.map((id) => ['AWS/Lambda', metric, 'FunctionName', substituted(id), { stat, label: id }]);
  return [
    {
      type: 'text',
      x: 0,
      y: 0,
      width: 24,
      height: 2,
      properties: {
        markdown: `## ReCodEx fileserver\nRequests, errors and latency by route, archive builds and the exercise cache from the functions' own metrics (namespace \`${namespace}\`, from each request's log line); the failure queue and Lambda from AWS's. What each plots: docs/deploy.md, "Dashboard".`,
      },
    },
    metricWidget(0, 2, 'Requests by route and status class', {
      metrics: [[search(namespace, routeAndClass, 'Requests', {}, 'Sum', 'requests')]],
      stat: 'Sum',
    }),
    metricWidget(8, 2, '4xx answers by route', {
      metrics: [[search(namespace, routeAndClass, 'Requests', { StatusClass: '4xx' }, 'Sum', 'clientErrors')]],
      stat: 'Sum',
    }),
    metricWidget(16, 2, '5xx answers by route', {
      metrics: [[search(namespace, routeAndClass, 'Requests', { StatusClass: '5xx' }, 'Sum', 'serverErrors')]],
      stat: 'Sum',
    }),
    metricWidget(0, 8, 'Latency p50 by route (2xx answers, ms)', {
      metrics: [[search(namespace, routeAndClass, 'Latency', { StatusClass: '2xx' }, 'p50', 'p50')]],
      stat: 'p50',
    }),
    metricWidget(8, 8, 'Latency p99 by route (2xx answers, ms)', {
      metrics: [[search(namespace, routeAndClass, 'Latency', { StatusClass: '2xx' }, 'p99', 'p99')]],
      stat: 'p99',
    }),
    metricWidget(16, 8, 'S3 requests by route', {
      metrics: [[search(namespace, ['Route'], 'S3Requests', {}, 'Sum', 's3')]],
      stat: 'Sum',
    }),
    metricWidget(0, 14, 'Archive builds by the archiver: duration (ms) and count', {
      metrics: [
        [namespace, 'ArchiveBuildDuration', { stat: 'p50', label: 'p50' }],
        [namespace, 'ArchiveBuildDuration', { stat: 'p99', label: 'p99' }],
        [namespace, 'ArchiveBuildDuration', { stat: 'Maximum', label: 'max' }],
        [namespace, 'ArchiveBuilds', { stat: 'Sum', label: 'builds', yAxis: 'right' }],
      ],
    }),
    metricWidget(8, 14, 'Archive builds in requests (POST, GET on demand): p99 duration (ms)', {
      metrics: [[search(namespace, ['Route'], 'ArchiveBuildDuration', {}, 'p99', 'inRequests')]],
      stat: 'p99',
    }),
    metricWidget(16, 14, 'Exercise cache hit rate (%)', {
      metrics: [
        [{ expression: '100 * FILL(hits, 0) / (FILL(hits, 0) + FILL(misses, 0))', label: 'hit rate', id: 'rate' }],
        [namespace, 'CacheHits', 'Route', 'exercise', { stat: 'Sum', id: 'hits', visible: false }],
        [namespace, 'CacheMisses', 'Route', 'exercise', { stat: 'Sum', id: 'misses', visible: false }],
      ],
      yAxis: { left: { min: 0, max: 100 } },
    }),
    metricWidget(0, 20, 'Failure queue: archive builds that failed every attempt', {
      metrics: [
        ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', queue, { stat: 'Maximum', label: 'messages' }],
        [
          'AWS/SQS',
          'ApproximateAgeOfOldestMessage',
          'QueueName',
          queue,
          { stat: 'Maximum', label: 'age of the oldest (s)', yAxis: 'right' },
        ],
      ],
    }),
    metricWidget(8, 20, 'Lambda throttles', { metrics: perFunction('Throttles', 'Sum') }),
    metricWidget(16, 20, 'Lambda concurrent executions (max)', {
      metrics: perFunction('ConcurrentExecutions', 'Maximum'),
    }),
  ];
}

/**
 * Fills the `Dashboard` resource of serverless.yml: its body is JSON, with `${…}` for what only CloudFormation knows
 * (the region, the functions' and the queue's names), given to Fn::Sub.
 */
function addDashboard(template, namespace) {
  const dashboard = template.Resources.Dashboard;
  if (!dashboard) return;
  if (!namespace) throw new Error('the functions have no METRICS_NAMESPACE for the dashboard to plot');
  const functions = Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([id]) => id);
  const queue = substituted('ArchiverFailureQueue.QueueName');
  dashboard.Properties.DashboardBody = {
    'Fn::Sub': JSON.stringify({ widgets: widgets(namespace, functions, queue) }),
  };
}

const TRACE_WRITES = {
  Effect: 'Allow',
  Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
  // X-Ray's write actions take no resource ARN (Service Authorization Reference, "AWS X-Ray").
  Resource: '*',
};

/**
 * With tracing=true: active tracing on every function, the write grants it needs in each function's own role (the
 * per-function roles do not get them from the framework), and X-Ray on the API stage (the stage is the Deployment's,
 * so its StageDescription carries it, as it carries the access-log setting).
 */
function applyTracing(template, on) {
  if (!on) return;
  for (const [, fn] of Object.entries(template.Resources)) {
    if (fn.Type !== 'AWS::Lambda::Function') continue;
    fn.Properties.TracingConfig = { Mode: 'Active' };
    const role = template.Resources[fn.Properties.Role?.['Fn::GetAtt']?.[0]];
    const statements = role?.Properties?.Policies?.[0]?.PolicyDocument?.Statement;
    if (!Array.isArray(statements)) throw new Error('a function without a role of its own to grant X-Ray writes');
    statements.push(TRACE_WRITES);
  }
  for (const [, deployment] of Object.entries(template.Resources)) {
    if (deployment.Type !== 'AWS::ApiGateway::Deployment') continue;
    const description = deployment.Properties.StageDescription;
    if (description?.['Fn::If']) {
      // The access-log setting's condition (production-template.js): tracing goes into both branches.
      const [condition, whenTrue] = description['Fn::If'];
      deployment.Properties.StageDescription = {
        'Fn::If': [condition, { ...whenTrue, TracingEnabled: true }, { TracingEnabled: true }],
      };
    } else deployment.Properties.StageDescription = { ...description, TracingEnabled: true };
  }
}

/** The tracing parameter: `true` or `false`, nothing else (a typo must not deploy without the traces asked for). */
function tracingOn(value) {
  const text = String(value ?? 'false');
  if (text !== 'true' && text !== 'false')
    throw new Error(`tracing must be true or false, not ${JSON.stringify(text)}`);
  return text === 'true';
}

module.exports = { addDashboard, applyTracing, tracingOn };
