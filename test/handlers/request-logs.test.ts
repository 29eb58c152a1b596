/**
 * What an operator reads in CloudWatch (docs/deploy.md, "Logs" and "Metrics"): every line a request causes carries
 * its API Gateway and Lambda request ids, its function and whether it was a cold start, including the lines written
 * deep in lib/fileserver and the archiver's, which name the S3 event they handle; and each request's summary line
 * (each archiver record's) is a valid EMF document with the request's metrics.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { handler as archiver } from '../../functions/archiver';
import { download as exerciseDownload } from '../../functions/exercises';
import { handler as submissions } from '../../functions/submissions';
import type { LambdaHttpHandler } from '../../lib/http/handler';
import type { ObjectStore } from '../../lib/storage/object-store';
import { store, useStore } from '../../lib/storage/store';
import { DEFAULT_METRICS_NAMESPACE } from '../../lib/util/metrics';
import { emfProblems, emittedMetrics } from '../support/emf';
import { file, multipart } from '../support/multipart';
import { loadEvent } from './support/events';
import { captureLogs, type LogLine } from './support/logs';
import { manifestEvent } from './support/s3-events';
import { useTestStore } from './support/store';

const bucket = useTestStore();

/** A Lambda context as the runtime passes it (only what the handlers read). */
function lambdaContext(functionName: string, awsRequestId = randomUUID()): Context {
  return { functionName, awsRequestId } as Context;
}

/** The event with API Gateway's request id set to `apiRequestId`. */
function withRequestId(event: APIGatewayProxyEvent, apiRequestId: string): APIGatewayProxyEvent {
  event.requestContext.requestId = apiRequestId;
  return event;
}

function submissionPost(id: string, apiRequestId: string): APIGatewayProxyEvent {
  const { body, contentType } = multipart([file('main.c', `int main(void) { return ${id.length}; }\n`)]);
  return withRequestId(
    loadEvent('api-submission-post', { param: id, body, headers: { 'Content-Type': contentType } }),
    apiRequestId,
  );
}

/** The store with writes under `prefixes` failing, as an S3 that stopped taking writes would. */
function failingWrites(prefixes: readonly string[]): () => void {
  const inner = store();
  const fails = (key: unknown) => prefixes.some((prefix) => String(key).startsWith(prefix));
  useStore(
    new Proxy(inner, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if ((property === 'putObject' || property === 'uploadStream') && fails(args[0])) {
            return Promise.reject(new Error(`injected: S3 refused the write of ${String(args[0])}`));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as ObjectStore,
  );
  return () => useStore(inner);
}

const sha1 = (data: string): string => createHash('sha1').update(data).digest('hex');

it('follows one failing request through every line it caused, while another request runs beside it', async () => {
  const failing = { api: `api-${randomUUID()}`, lambda: lambdaContext('fileserver-dev-submissions') };
  const passing = { api: `api-${randomUUID()}`, lambda: lambdaContext('fileserver-dev-exerciseDownload') };
  const data = `input ${randomUUID()}`;
  await bucket.put(`tasks/${sha1(data)[0]}/${sha1(data)}`, Buffer.from(data));
  // The archive the POST builds from its bytes fails (lib/fileserver/submissions.ts logs it and goes on), then the
  // manifest's write fails the request.
  const restore = failingWrites(['submission_archives/', 'manifests/']);
  let statuses: number[] = [];
  const { lines } = await captureLogs(async () => {
    try {
      const answers = await Promise.all([
        submissions(submissionPost(`logs_${Date.now()}`, failing.api), failing.lambda),
        exerciseDownload(
          withRequestId(loadEvent('worker-exercise-get', { param: sha1(data) }), passing.api),
          passing.lambda,
        ),
      ]);
      statuses = answers.map((answer) => answer.statusCode);
    } finally {
      restore();
    }
  });
  expect(statuses).toEqual([500, 200]);

  const ofFailing = lines.filter((line) => line.apiRequestId === failing.api);
  expect(ofFailing.map((line) => line.message)).toEqual([
    'archive from the request failed; the archiver builds it',
    'request failed',
    'request',
  ]);
  for (const line of ofFailing) {
    expect(line).toMatchObject({
      apiRequestId: failing.api,
      lambdaRequestId: failing.lambda.awsRequestId,
      function: 'fileserver-dev-submissions',
      coldStart: expect.any(Boolean),
      Route: 'submissions',
      method: 'POST',
    });
  }
  // Found by either id, the same lines; the other request's lines carry its own ids only.
  expect(lines.filter((line) => line.lambdaRequestId === failing.lambda.awsRequestId)).toEqual(ofFailing);
  const ofPassing = lines.filter((line) => line.apiRequestId === passing.api);
  expect(ofPassing.map((line) => [line.message, line.lambdaRequestId, line.function])).toEqual([
    ['request', passing.lambda.awsRequestId, 'fileserver-dev-exerciseDownload'],
  ]);
  expect(lines.length).toBe(ofFailing.length + ofPassing.length);
  // What failed, on the lines that say so: the injected error, with its stack.
  expect(ofFailing[0]).toMatchObject({ level: 'error', errorMessage: expect.stringContaining('submission_archives/') });
  expect(ofFailing[1]).toMatchObject({ level: 'error', errorMessage: expect.stringContaining('manifests/') });
  expect(ofFailing[2]).toMatchObject({ level: 'info', status: 500, StatusClass: '5xx', Requests: 1 });
});

it('marks the first invocation of a function in this process as its cold start, and no later one', async () => {
  const name = `cold-start-${randomUUID()}`;
  const { lines } = await captureLogs(async () => {
    for (let i = 0; i < 3; i++) {
      await exerciseDownload(loadEvent('worker-exercise-get', { param: sha1(`absent ${i}`) }), lambdaContext(name));
    }
  });
  expect(lines.map((line) => [line.function, line.coldStart, line.status])).toEqual([
    [name, true, 404],
    [name, false, 404],
    [name, false, 404],
  ]);
});

/** The summary lines of `lines`, each checked against the EMF specification. */
function summaries(lines: readonly LogLine[], message = 'request'): LogLine[] {
  const found = lines.filter((line) => line.message === message);
  for (const line of found) expect(emfProblems(JSON.stringify(line))).toEqual([]);
  return found;
}

it('makes each request summary an EMF document: count, latency, bytes per route and status class; S3 requests and cache hits per route', async () => {
  const data = `cached ${randomUUID()}`;
  const hash = sha1(data);
  await bucket.put(`tasks/${hash[0]}/${hash}`, Buffer.from(data));
  const get = (handler: LambdaHttpHandler) => handler(loadEvent('worker-exercise-get', { param: hash }));
  const { lines } = await captureLogs(async () => {
    await get(exerciseDownload);
    await get(exerciseDownload);
  });
  const [miss, hit] = summaries(lines) as [LogLine, LogLine];
  // Only the S3 store sends S3 requests; the folder store (npm start) sends none.
  const fromS3 = bucket.backend === 's3rver' ? 1 : 0;
  expect(emittedMetrics(JSON.stringify(miss))).toEqual([
    ...(['Requests', 'Latency', 'BytesIn', 'BytesOut'] as const).map((name) => ({
      namespace: DEFAULT_METRICS_NAMESPACE,
      name,
      dimensions: { Route: 'exercise', StatusClass: '2xx' },
      unit: { Requests: 'Count', Latency: 'Milliseconds', BytesIn: 'Bytes', BytesOut: 'Bytes' }[name],
      value: { Requests: 1, Latency: expect.any(Number), BytesIn: 0, BytesOut: data.length }[name],
    })),
    ...(['S3Requests', 'CacheMisses'] as const).map((name) => ({
      namespace: DEFAULT_METRICS_NAMESPACE,
      name,
      dimensions: { Route: 'exercise' },
      unit: 'Count',
      value: { S3Requests: fromS3, CacheMisses: 1 }[name],
    })),
  ]);
  expect(hit).toMatchObject({ S3Requests: 0, CacheHits: 1, BytesOut: data.length });
  expect(hit).not.toHaveProperty('CacheMisses');
});

it("writes the archiver's lines with the S3 event they handle, and its record's line as EMF with the build", async () => {
  const id = `archived_${Date.now()}`;
  // The POST's own archive fails, so the archiver builds it.
  const restore = failingWrites(['submission_archives/']);
  try {
    await submissions(submissionPost(id, `api-${randomUUID()}`));
  } finally {
    restore();
  }
  const event = manifestEvent(id);
  const context = lambdaContext('fileserver-dev-archiver');
  const startedAt = Date.now();
  const { result, lines } = await captureLogs(() => archiver(event, context));
  const elapsed = Date.now() - startedAt;
  expect(result.status).toBe('fulfilled');
  const record = event.Records[0];
  expect(lines.map((line) => line.message)).toEqual(['archive built', 'archiver']);
  for (const line of lines) {
    expect(line).toMatchObject({
      lambdaRequestId: context.awsRequestId,
      function: 'fileserver-dev-archiver',
      s3Event: {
        name: record?.eventName,
        bucket: record?.s3.bucket.name,
        key: record?.s3.object.key,
        sequencer: record?.s3.object.sequencer,
        time: record?.eventTime,
      },
    });
  }
  const [summary] = summaries(lines, 'archiver') as [LogLine];
  expect(summary).toMatchObject({ submission: id, outcome: 'built' });
  const metrics = emittedMetrics(JSON.stringify(summary));
  expect(Object.fromEntries(metrics.map((metric) => [metric.name, metric.value]))).toEqual({
    S3Requests: bucket.backend === 's3rver' ? expect.any(Number) : 0,
    ArchiveBuilds: 1,
    ArchiveBuildDuration: expect.any(Number),
    ArchiveFiles: 1,
    // The submission's bytes (its one file, submissionPost's main.c), not the zip's.
    ArchiveBytes: Buffer.byteLength(`int main(void) { return ${id.length}; }\n`),
  });
  // The build's own time: within the archiver's invocation.
  expect(summary.ArchiveBuildDuration).toBeGreaterThanOrEqual(0);
  expect(summary.ArchiveBuildDuration).toBeLessThanOrEqual(elapsed);
  for (const metric of metrics) expect(metric.dimensions).toEqual({});
});
