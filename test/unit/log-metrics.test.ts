/**
 * The log's level, the invocation's fields on every line (through awaits, timers and streams), and the EMF documents
 * the lines carry, checked against the specification by test/support/emf.ts (whose own checks are tested here too,
 * so that it can fail).
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { count, counted, withInvocation } from '../../lib/util/invocation';
import { log } from '../../lib/util/log';
import { emfMembers } from '../../lib/util/metrics';
import { captureLogs } from '../handlers/support/logs';
import { emfProblems, emittedMetrics } from '../support/emf';

async function linesOf(env: Record<string, string | undefined>, body: () => void | Promise<void>) {
  const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
  try {
    return (
      await captureLogs(async () => {
        for (const [name, value] of Object.entries(env)) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
        await body();
      })
    ).lines;
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

const both = () => {
  log('info', 'an info line');
  log('error', 'an error line');
};

describe('the level', () => {
  it.each([
    [{ LOG_LEVEL: 'info' }, ['an info line', 'an error line']],
    [{ LOG_LEVEL: 'error' }, ['an error line']],
    [{ LOG_LEVEL: 'silent' }, []],
    // Lambda's application log level (the function's logging configuration): the stricter of the two wins.
    [{ LOG_LEVEL: 'info', AWS_LAMBDA_LOG_LEVEL: 'DEBUG' }, ['an info line', 'an error line']],
    [{ LOG_LEVEL: 'info', AWS_LAMBDA_LOG_LEVEL: 'INFO' }, ['an info line', 'an error line']],
    [{ LOG_LEVEL: 'info', AWS_LAMBDA_LOG_LEVEL: 'WARN' }, ['an error line']],
    [{ LOG_LEVEL: 'info', AWS_LAMBDA_LOG_LEVEL: 'ERROR' }, ['an error line']],
    [{ LOG_LEVEL: 'info', AWS_LAMBDA_LOG_LEVEL: 'FATAL' }, []],
    [{ LOG_LEVEL: 'error', AWS_LAMBDA_LOG_LEVEL: 'DEBUG' }, ['an error line']],
  ])('%j writes %j', async (env, expected) => {
    const lines = await linesOf({ AWS_LAMBDA_LOG_LEVEL: undefined, ...env }, both);
    expect(lines.map((line) => line.message)).toEqual(expected);
  });
});

describe('the invocation', () => {
  it('gives its fields to every line written within it, through awaits, timers and stream events', async () => {
    const lines = await linesOf({}, async () => {
      log('info', 'before');
      await Promise.all(
        ['a', 'b'].map((id) =>
          withInvocation({ apiRequestId: id }, async () => {
            await new Promise((done) => setTimeout(done, id === 'a' ? 20 : 1));
            log('info', 'after a timer');
            const stream = new PassThrough();
            stream.on('data', () => log('info', 'in a stream event'));
            stream.end('x');
            await once(stream, 'end');
            log('info', 'at the end', { apiRequestId: 'a line cannot pass for another request' });
          }),
        ),
      );
      log('info', 'after');
    });
    const byRequest = (id: string | undefined) =>
      lines.filter((line) => line.apiRequestId === id).map((line) => line.message);
    expect(byRequest('a')).toEqual(['after a timer', 'in a stream event', 'at the end']);
    expect(byRequest('b')).toEqual(['after a timer', 'in a stream event', 'at the end']);
    expect(byRequest(undefined)).toEqual(['before', 'after']);
  });

  it('counts for the invocation running, and nothing outside one', async () => {
    count('S3Requests');
    expect(counted().size).toBe(0);
    const inner = await withInvocation({}, async () => {
      count('S3Requests');
      await new Promise((done) => setImmediate(done));
      count('S3Requests', 2);
      count('CacheHits');
      return Object.fromEntries(counted());
    });
    expect(inner).toEqual({ S3Requests: 3, CacheHits: 1 });
  });
});

describe('EMF documents', () => {
  const document = (members: Record<string, unknown>) => JSON.stringify({ level: 'info', message: 'm', ...members });

  it('are valid, and name each metric with its namespace, dimensions, unit and value', () => {
    const members = emfMembers(
      [
        { dimensions: { Route: 'exercise', StatusClass: '2xx' }, values: { Requests: 1, Latency: 12 } },
        { dimensions: { Route: 'exercise' }, values: { S3Requests: 0, CacheHits: 1 } },
        { dimensions: {}, values: { ArchiveBuilds: undefined } },
      ],
      1_765_000_000_000,
    );
    const line = document(members);
    expect(emfProblems(line)).toEqual([]);
    expect(emittedMetrics(line)).toEqual([
      {
        namespace: 'recodex-fileserver',
        name: 'Requests',
        dimensions: { Route: 'exercise', StatusClass: '2xx' },
        unit: 'Count',
        value: 1,
      },
      {
        namespace: 'recodex-fileserver',
        name: 'Latency',
        dimensions: { Route: 'exercise', StatusClass: '2xx' },
        unit: 'Milliseconds',
        value: 12,
      },
      {
        namespace: 'recodex-fileserver',
        name: 'S3Requests',
        dimensions: { Route: 'exercise' },
        unit: 'Count',
        value: 0,
      },
      {
        namespace: 'recodex-fileserver',
        name: 'CacheHits',
        dimensions: { Route: 'exercise' },
        unit: 'Count',
        value: 1,
      },
    ]);
    expect(JSON.parse(line)._aws.Timestamp).toBe(1_765_000_000_000);
  });

  it('use the namespace in METRICS_NAMESPACE (the deployment names its stage)', () => {
    const saved = process.env.METRICS_NAMESPACE;
    process.env.METRICS_NAMESPACE = 'recodex-fileserver/prod';
    try {
      const [metric] = emittedMetrics(document(emfMembers([{ dimensions: {}, values: { Requests: 1 } }])));
      expect(metric?.namespace).toBe('recodex-fileserver/prod');
    } finally {
      if (saved === undefined) delete process.env.METRICS_NAMESPACE;
      else process.env.METRICS_NAMESPACE = saved;
    }
  });

  it('refuse a metric in two groups and a dimension with two values, which one root member cannot hold', () => {
    expect(() =>
      emfMembers([
        { dimensions: { Route: 'a' }, values: { Requests: 1 } },
        { dimensions: {}, values: { Requests: 1 } },
      ]),
    ).toThrow('two groups');
    expect(() =>
      emfMembers([
        { dimensions: { Route: 'a' }, values: { Requests: 1 } },
        { dimensions: { Route: 'b' }, values: { Latency: 1 } },
      ]),
    ).toThrow('two values');
    expect(emfMembers([{ dimensions: {}, values: {} }])).toEqual({});
  });

  const valid = {
    _aws: {
      Timestamp: 1,
      CloudWatchMetrics: [{ Namespace: 'ns', Dimensions: [['Route']], Metrics: [{ Name: 'Requests', Unit: 'Count' }] }],
    },
    Route: 'exercise',
    Requests: 1,
  };

  it.each([
    ['a prefix before the object', `2026-12-07T00:00:00Z\tid\tINFO\t${JSON.stringify(valid)}`, 'JSON object'],
    ['no _aws', JSON.stringify({ Requests: 1 }), 'no _aws'],
    ['no Timestamp', JSON.stringify({ ...valid, _aws: { ...valid._aws, Timestamp: undefined } }), 'Timestamp'],
    ['a dimension that is not a string member', JSON.stringify({ ...valid, Route: 3 }), 'dimension Route'],
    ['a missing metric value', JSON.stringify({ ...valid, Requests: undefined }), 'metric Requests'],
    ['a metric value that is a string', JSON.stringify({ ...valid, Requests: '1' }), 'metric Requests'],
    [
      'an AWS/ namespace',
      JSON.stringify({
        ...valid,
        _aws: { ...valid._aws, CloudWatchMetrics: [{ ...valid._aws.CloudWatchMetrics[0], Namespace: 'AWS/Lambda' }] },
      }),
      'AWS/',
    ],
    [
      'an unknown unit',
      JSON.stringify({
        ...valid,
        _aws: {
          ...valid._aws,
          CloudWatchMetrics: [{ ...valid._aws.CloudWatchMetrics[0], Metrics: [{ Name: 'Requests', Unit: 'ms' }] }],
        },
      }),
      'not a CloudWatch unit',
    ],
    [
      'no DimensionSet',
      JSON.stringify({
        ...valid,
        _aws: { ...valid._aws, CloudWatchMetrics: [{ ...valid._aws.CloudWatchMetrics[0], Dimensions: [] }] },
      }),
      'at least one DimensionSet',
    ],
  ])('are checked by the test support against the specification: %s is refused', (_what, line, problem) => {
    expect(emfProblems(JSON.stringify(valid))).toEqual([]);
    expect(emfProblems(line).join('; ')).toContain(problem);
  });
});
