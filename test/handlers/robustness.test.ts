/**
 * Nothing escapes a handler as an exception (API Gateway would answer 502 and the worker or API would see a
 * gateway failure instead of a reason): malformed or unexpected events get a 4xx JSON error (docs/protocol.md §5).
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { handler as archives } from '../../functions/archives';
import { handler as attachments } from '../../functions/attachments';
import { download as exerciseDownload, upload as exerciseUpload } from '../../functions/exercises';
import { httpHandlers } from '../../functions/index';
import { handler as results } from '../../functions/results';
import { handler as status } from '../../functions/status';
import { handler as submissions } from '../../functions/submissions';
import { handler as uploads } from '../../functions/uploads';
import type { LambdaHttpHandler } from '../../lib/http/handler';
import { type EventOverrides, expectError, type Fixture, fixtureBody, invoke, loadEvent } from './support/events';
import { useTestStore } from './support/store';

const bucket = useTestStore();

/** Each handler with a fixture of a request it accepts. */
const ROUTES: ReadonlyArray<[string, LambdaHttpHandler, Fixture, EventOverrides]> = [
  ['submissions', submissions, 'api-submission-post', {}],
  ['archives', archives, 'worker-archive-get', {}],
  ['exercise upload', exerciseUpload, 'api-exercise-post', {}],
  ['exercise download', exerciseDownload, 'worker-exercise-get', {}],
  ['results', results, 'worker-result-put', {}],
  ['attachments', attachments, 'worker-result-put', { raw: { resource: '/attachments/{id+}' } }],
  ['status', status, 'status-get', {}],
  ['uploads', uploads, 'api-upload-post', {}],
];

const ROUTES_WITH_PARAMS = ROUTES.filter(([name]) => name !== 'status' && name !== 'exercise upload');

it('covers every handler that serverless.yml names', () => {
  expect(new Set(Object.values(httpHandlers))).toEqual(new Set(ROUTES.map(([, handler]) => handler)));
});

describe.each(ROUTES_WITH_PARAMS)('%s without its path parameter', (_name, handler, fixture, overrides) => {
  it.each([
    ['null', null],
    ['empty', {}],
  ])('answers 404 not-found when pathParameters is %s', async (_label, pathParameters) => {
    const before = await bucket.keys();
    const event = loadEvent(fixture, { ...overrides, raw: { ...overrides?.raw, pathParameters } });
    expectError(await invoke(handler, event), 404, 'not-found');
    expect(await bucket.keys()).toEqual(before);
  });
});

describe.each(ROUTES)('%s with a method it does not serve', (_name, handler, fixture, overrides) => {
  it.each(['DELETE', 'PATCH', 'OPTIONS'])('answers %s with 405 and an Allow header', async (method) => {
    const answer = await invoke(handler, loadEvent(fixture, { ...overrides, method }));
    expectError(answer, 405, 'method-not-allowed');
    expect(answer.headers?.Allow).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
    expect(answer.headers?.Allow).not.toContain(method);
  });
});

describe.each([
  ['submissions', submissions, 'api-submission-post'],
  ['exercise upload', exerciseUpload, 'api-exercise-post'],
] as const)('%s with a body that is not what it claims', (_name, handler, fixture) => {
  const expectNoWrite = async (event: APIGatewayProxyEvent, status: number, code: string) => {
    const before = await bucket.keys();
    expectError(await invoke(handler, event), status, code);
    expect(await bucket.keys()).toEqual(before);
  };

  it('answers 400 bad-multipart for a body that is not multipart at all', async () => {
    await expectNoWrite(loadEvent(fixture, { body: Buffer.from('this is not multipart') }), 400, 'bad-multipart');
  });

  it('answers 400 bad-multipart for a multipart body cut short', async () => {
    const whole = fixtureBody(fixture);
    const event = loadEvent(fixture, { body: whole.subarray(0, Math.floor(whole.length / 2)) });
    await expectNoWrite(event, 400, 'bad-multipart');
  });

  it('answers 400 bad-multipart for a body whose boundary is another one', async () => {
    const event = loadEvent(fixture, { headers: { 'Content-Type': 'multipart/form-data; boundary=not-the-one' } });
    await expectNoWrite(event, 400, 'bad-multipart');
  });

  it('answers 400 bad-multipart for a body marked base64 that is plain multipart text', async () => {
    const event = loadEvent(fixture, { raw: { body: fixtureBody(fixture).toString('latin1'), isBase64Encoded: true } });
    await expectNoWrite(event, 400, 'bad-multipart');
  });

  it('answers 400 for no body at all', async () => {
    await expectNoWrite(loadEvent(fixture, { body: null }), 400, 'bad-multipart');
  });

  it('answers 415 not-multipart without a Content-Type', async () => {
    await expectNoWrite(loadEvent(fixture, { headers: { 'Content-Type': undefined } }), 415, 'not-multipart');
  });

  it('answers 415 not-multipart for JSON', async () => {
    const event = loadEvent(fixture, {
      body: Buffer.from('{"files":[]}'),
      headers: { 'Content-Type': 'application/json' },
    });
    await expectNoWrite(event, 415, 'not-multipart');
  });

  it('answers 415 not-multipart when the event has no headers at all', async () => {
    await expectNoWrite(loadEvent(fixture, { raw: { headers: null, multiValueHeaders: null } }), 415, 'not-multipart');
  });

  it('reads the Content-Type whatever the spelling of its name', async () => {
    const contentType = loadEvent(fixture).headers['Content-Type'] as string;
    const answer = await invoke(handler, loadEvent(fixture, { headers: { 'content-type': contentType } }));
    expect(answer.statusCode).toBe(200);
  });
});

describe('events AWS would not send', () => {
  it('answers a GET without headers, multiValueHeaders or requestContext', async () => {
    const event = loadEvent('worker-result-put', {
      method: 'GET',
      body: null,
      raw: { headers: null, multiValueHeaders: null, requestContext: null },
    });
    expectError(await invoke(results, event), 404, 'no-such-result');
  });

  // An event without `httpMethod` (a warm-up ping, a hand-made test event) is not a client failure of ours.
  it.each(Object.entries(httpHandlers))('%s answers an empty event {} with a 4xx', async (_name, handler) => {
    const answer = await invoke(handler, {} as APIGatewayProxyEvent);
    expect(answer.statusCode).toBeGreaterThanOrEqual(400);
    expect(answer.statusCode).toBeLessThan(500);
  });

  it.each(Object.entries(httpHandlers))('%s answers an empty event {} with a JSON error', async (_name, handler) => {
    const answer = await invoke(handler, {} as APIGatewayProxyEvent);
    expect(answer.statusCode).toBeGreaterThanOrEqual(400);
    expect(JSON.parse(answer.body)).toMatchObject({ result: 'ERROR', error: { code: expect.any(String) } });
  });

  // `aws lambda invoke --payload null` must get an answer, not a failed invocation.
  it.each(Object.entries(httpHandlers))('%s answers a null event without throwing', async (_name, handler) => {
    await invoke(handler, null as unknown as APIGatewayProxyEvent);
  });
});
