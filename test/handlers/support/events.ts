/**
 * API Gateway REST proxy events from `test/events/apigw/`, as AWS delivers them with binary media types `*\/*`,
 * with whatever a test needs changed. Every override keeps the event self-consistent: a header change shows in
 * both `headers` and `multiValueHeaders`, a new path parameter changes `path` and `requestContext.path`, a new body
 * updates `Content-Length`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { LambdaHttpHandler } from '../../../lib/http/handler';

export type Fixture =
  | 'api-exercise-post'
  | 'api-submission-post'
  | 'api-upload-post'
  | 'results-delete'
  | 'status-get'
  | 'worker-archive-get'
  | 'worker-exercise-get'
  | 'worker-result-put'
  | 'worker-task-get-uppercase';

const FIXTURES = join(__dirname, '..', '..', 'events', 'apigw');

/** The submission id every fixture uses (the API's POST, the worker's archive GET and result PUT). */
export const FIXTURE_ID = 'student_3f1c9a52-7d4e-4b8a-9e21-5c6d0f8ab712';

export interface EventOverrides {
  /** Changes `httpMethod` and `requestContext.httpMethod`. */
  method?: string;
  /**
   * The value of the resource's only path parameter (`{name+}`, `{id+}`, `{hash+}`): changes `pathParameters`,
   * `path` and `requestContext.path` as API Gateway would for that request.
   */
  param?: string;
  /** Merged by name, ignoring case (the fixture's spelling is replaced); `undefined` removes the header. */
  headers?: Record<string, string | undefined>;
  /**
   * A Buffer travels base64 (`isBase64Encoded: true`), as with binary media types `*\/*`; a string travels as
   * plain text (`isBase64Encoded: false`); `null` is no body. `Content-Length` follows when the fixture has one.
   */
  body?: Buffer | string | null;
  /** Anything else, replaced as given (last, so it can also break the event on purpose). */
  raw?: Partial<Record<keyof APIGatewayProxyEvent, unknown>>;
}

export function loadEvent(name: Fixture, overrides: EventOverrides = {}): APIGatewayProxyEvent {
  const event = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as APIGatewayProxyEvent;
  if (overrides.method !== undefined) {
    event.httpMethod = overrides.method;
    event.requestContext.httpMethod = overrides.method;
  }
  if (overrides.param !== undefined) {
    const match = /\{([^}+]+)\+?\}/.exec(event.resource);
    if (!match?.[1]) throw new Error(`The fixture ${name} (${event.resource}) has no path parameter.`);
    event.pathParameters = { [match[1]]: overrides.param };
    event.path = event.resource.replace(match[0], overrides.param);
    event.requestContext.path = `/${event.requestContext.stage}${event.path}`;
  }
  if (overrides.body !== undefined) {
    const { body } = overrides;
    event.body = body === null ? null : Buffer.isBuffer(body) ? body.toString('base64') : body;
    event.isBase64Encoded = Buffer.isBuffer(body);
    const length = body === null ? undefined : String(Buffer.byteLength(body));
    if (headerName(event, 'content-length') !== undefined) setHeader(event, 'Content-Length', length);
  }
  for (const [header, value] of Object.entries(overrides.headers ?? {})) setHeader(event, header, value);
  Object.assign(event, overrides.raw ?? {});
  return event;
}

/** The event's spelling of a header, if it has one. */
function headerName(event: APIGatewayProxyEvent, name: string): string | undefined {
  return Object.keys(event.headers ?? {}).find((key) => key.toLowerCase() === name.toLowerCase());
}

function setHeader(event: APIGatewayProxyEvent, name: string, value: string | undefined): void {
  const existing = headerName(event, name);
  if (existing !== undefined) {
    delete event.headers[existing];
    delete event.multiValueHeaders[existing];
  }
  if (value === undefined) return;
  event.headers[name] = value;
  event.multiValueHeaders[name] = [value];
}

/**
 * Calls a handler as Lambda would and checks that it resolved (an exception would be a 502 from API Gateway) with
 * a proxy answer: a numeric status and a string body.
 */
export async function invoke(handler: LambdaHttpHandler, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const answer = handler(event);
  await expect(answer).resolves.toEqual(
    expect.objectContaining({ statusCode: expect.any(Number), body: expect.any(String) }),
  );
  return answer;
}

/** The answer's body as bytes, decoding base64 when the answer says so (what API Gateway sends the client). */
export function bodyBytes(answer: APIGatewayProxyResult): Buffer {
  return Buffer.from(answer.body, answer.isBase64Encoded ? 'base64' : 'utf8');
}

/** The answer's body parsed as JSON; fails the test unless the answer says it is JSON. */
export function jsonBody(answer: APIGatewayProxyResult): unknown {
  expect(answer.headers?.['Content-Type']).toBe('application/json');
  expect(answer.isBase64Encoded ?? false).toBe(false);
  return JSON.parse(answer.body);
}

/** What every error answer looks like (docs/protocol.md §5). */
export function expectError(answer: APIGatewayProxyResult, statusCode: number, code: string): void {
  expect({ statusCode: answer.statusCode, body: jsonBody(answer) }).toEqual({
    statusCode,
    body: { result: 'ERROR', error: { code, message: expect.any(String) } },
  });
}

/** The decoded body of a fixture (what the client sent). */
export function fixtureBody(name: Fixture): Buffer {
  const event = loadEvent(name);
  if (event.body === null) throw new Error(`The fixture ${name} has no body.`);
  return Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
}
