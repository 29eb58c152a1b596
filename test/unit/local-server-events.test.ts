/**
 * The local API Gateway stand-in (lib/local/server.ts) hands a handler exactly what API Gateway hands a Lambda
 * (binary media types `*\/*`): a request body as its base64 in `event.body`, also after the event went through
 * JSON; no body as `null`; and it sends what the answer carries. Through real HTTP, with handlers of its own.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { LambdaHttpHandler } from '../../lib/http/handler';
import { routeOf } from '../../lib/local/routes';
import { createLocalServer } from '../../lib/local/server';
import { send } from '../support/http';

let server: Server;
let url: string;
/** What the `answer` route sends next, and what `echo` saw. */
let next: () => APIGatewayProxyResult;
let seen: { body: string | null; isBase64Encoded: boolean } | undefined;
const handlers: Record<string, LambdaHttpHandler> = {
  answer: async () => next(),
  // Answers the base64 body it was given, as a handler that reads `event.body` itself does.
  echo: async (event) => {
    seen = { body: event.body, isBase64Encoded: event.isBase64Encoded };
    return { statusCode: 200, body: event.body ?? '', isBase64Encoded: true };
  },
  // The event through JSON and back, as the "as deployed" tier hands it to the packaged function.
  json: async (event) => {
    const parsed = JSON.parse(JSON.stringify(event)) as APIGatewayProxyEvent;
    return { statusCode: 200, body: parsed.body ?? '', isBase64Encoded: parsed.isBase64Encoded };
  },
};

beforeAll(async () => {
  server = createLocalServer({
    routes: [routeOf('/answer', 'ANY', 'answer'), routeOf('/echo', 'ANY', 'echo'), routeOf('/json', 'ANY', 'json')],
    handlers,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

it.each([
  ['echo', 100 * 1024],
  ['json', 100 * 1024],
  ['echo', 1],
])('hands a request body to a handler that reads event.body (%s, %d bytes)', async (route, size) => {
  const bytes = randomBytes(size);
  const answer = await send(url, 'PUT', `/${route}`, { body: bytes });
  expect(answer.status).toBe(200);
  expect(answer.body.equals(bytes)).toBe(true);
  if (route === 'echo') expect(seen).toEqual({ body: bytes.toString('base64'), isBase64Encoded: true });
});

it('gives a request without a body no body, as API Gateway does', async () => {
  const answer = await send(url, 'GET', '/echo');
  expect(answer.status).toBe(200);
  expect(answer.body.length).toBe(0);
  expect(seen).toEqual({ body: null, isBase64Encoded: false });
});

it('sends no body for HEAD and keeps the handler Content-Length, whatever the body', async () => {
  const kept = randomBytes(20_000);
  next = () => ({
    statusCode: 200,
    headers: { 'Content-Length': String(kept.length) },
    body: kept.toString('base64'),
    isBase64Encoded: true,
  });
  const head = await send(url, 'HEAD', '/answer');
  expect(head.status).toBe(200);
  expect(head.body.length).toBe(0);
  expect(head.headers['content-length']).toBe(String(kept.length));
  expect((await send(url, 'GET', '/answer')).body.equals(kept)).toBe(true);
});
