/**
 * The bytes the local server hands along beside a base64 body (lib/http/body-bytes.ts): the event's body reads as the
 * base64 API Gateway would send, in JSON and to any reader; a stable answer body is served from kept bytes only
 * while the answer still carries exactly that string. Through real HTTP to the local server with handlers of its
 * own, so that each case can break one hand-over on purpose.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import {
  markStableBody,
  requestBodyBytes,
  type StableBody,
  setRequestBody,
  stableBodyOf,
} from '../../lib/http/body-bytes';
import type { LambdaHttpHandler } from '../../lib/http/handler';
import { toRequest } from '../../lib/http/request';
import { routeOf } from '../../lib/local/routes';
import { createLocalServer } from '../../lib/local/server';
import { send } from '../support/http';

function bareEvent(): APIGatewayProxyEvent {
  return { httpMethod: 'PUT', body: null, isBase64Encoded: false } as unknown as APIGatewayProxyEvent;
}

describe('setRequestBody', () => {
  const bytes = randomBytes(1000);

  it('reads as the base64 of the bytes, in JSON too, and carries nothing else into JSON', () => {
    const event = bareEvent();
    setRequestBody(event, bytes);
    expect(event.body).toBe(bytes.toString('base64'));
    expect(event.isBase64Encoded).toBe(true);
    const parsed = JSON.parse(JSON.stringify(event)) as APIGatewayProxyEvent;
    expect(parsed).toEqual({ httpMethod: 'PUT', body: bytes.toString('base64'), isBase64Encoded: true });
    expect(requestBodyBytes(parsed)).toBeUndefined();
    expect(toRequest(parsed).body.equals(bytes)).toBe(true);
  });

  it('hands the handler the very bytes, which a copy of the event does not carry', () => {
    const event = bareEvent();
    setRequestBody(event, bytes);
    expect(requestBodyBytes(event)).toBe(bytes);
    expect(toRequest(event).body).toBe(bytes);
    const copy = { ...event };
    expect(requestBodyBytes(copy)).toBeUndefined();
    expect(toRequest(copy).body.equals(bytes)).toBe(true);
  });

  it('gives up the bytes when the body is replaced', () => {
    const event = bareEvent();
    setRequestBody(event, bytes);
    event.body = Buffer.from('other').toString('base64');
    expect(requestBodyBytes(event)).toBeUndefined();
    expect(toRequest(event).body.toString()).toBe('other');
    expect(JSON.parse(JSON.stringify(event)).body).toBe(Buffer.from('other').toString('base64'));
  });
});

describe('stableBodyOf', () => {
  const source: StableBody = { base64: randomBytes(300).toString('base64') };
  const answer = (body: string): APIGatewayProxyResult => ({ statusCode: 200, body, isBase64Encoded: true });

  it('names the source of a marked answer that carries its string, and never reaches JSON', () => {
    const marked = markStableBody(answer(source.base64 as string), source);
    expect(stableBodyOf(marked)).toBe(source);
    expect(JSON.stringify(marked)).toBe(JSON.stringify(answer(source.base64 as string)));
  });

  it('names none for an answer, or a copy of it, whose body is not the source string any more', () => {
    const marked = markStableBody(answer(source.base64 as string), source);
    expect(stableBodyOf({ ...marked, body: randomBytes(300).toString('base64') })).toBeUndefined();
    expect(stableBodyOf({ ...marked, body: '' })).toBeUndefined();
    marked.body = randomBytes(300).toString('base64');
    expect(stableBodyOf(marked)).toBeUndefined();
    expect(stableBodyOf(markStableBody({ ...answer(source.base64 as string), isBase64Encoded: false }, source))).toBe(
      undefined,
    );
  });
});

describe('the local server with its own handlers', () => {
  let server: Server;
  let url: string;
  /** What the `answer` route sends next, and what `echo` saw. */
  let next: () => APIGatewayProxyResult;
  let seen: { body: string | null; bytes: Buffer | undefined } | undefined;
  const handlers: Record<string, LambdaHttpHandler> = {
    answer: async () => next(),
    // Answers the base64 body it was given, as a handler that reads `event.body` itself does.
    echo: async (event) => {
      seen = { body: event.body, bytes: requestBodyBytes(event) };
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
    if (route === 'echo') expect(seen?.bytes?.equals(bytes)).toBe(true);
  });

  it('gives a request without a body no body, as API Gateway does', async () => {
    const answer = await send(url, 'GET', '/echo');
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBe(0);
    expect(seen).toEqual({ body: null, bytes: undefined });
  });

  it('serves each stable body as its own bytes, also among sources of one size and one prefix', async () => {
    // Same length and all but the last byte in common: only the source tells them apart.
    const contents = [0, 1, 2].map((last) => Buffer.concat([Buffer.alloc(64 * 1024, 7), Buffer.from([last])]));
    const sources = contents.map((bytes): StableBody => ({ base64: bytes.toString('base64') }));
    for (let round = 0; round < 3; round++) {
      for (const [i, source] of sources.entries()) {
        next = () => markStableBody({ statusCode: 200, body: source.base64 as string, isBase64Encoded: true }, source);
        const answer = await send(url, 'GET', '/answer');
        expect(answer.body.equals(contents[i] as Buffer)).toBe(true);
        expect(answer.headers['content-length']).toBe(String(contents[i]?.length));
      }
    }
  });

  it('serves each stable body as its own bytes when there are more than the server keeps decoded', async () => {
    // 20 sources of 1 MiB: more than the 32 MiB of bytes and base64 that the server keeps, so entries are evicted.
    const contents = Array.from({ length: 20 }, () => randomBytes(1024 * 1024));
    const sources = contents.map((bytes): StableBody => ({ base64: bytes.toString('base64') }));
    for (let round = 0; round < 2; round++) {
      for (const [i, source] of sources.entries()) {
        next = () => markStableBody({ statusCode: 200, body: source.base64 as string, isBase64Encoded: true }, source);
        expect((await send(url, 'GET', '/answer')).body.equals(contents[i] as Buffer)).toBe(true);
      }
    }
  });

  it('serves what an answer carries, not what its source was decoded to, once the body differs', async () => {
    const kept = randomBytes(50_000);
    const source: StableBody = { base64: kept.toString('base64') };
    next = () => markStableBody({ statusCode: 200, body: source.base64 as string, isBase64Encoded: true }, source);
    expect((await send(url, 'GET', '/answer')).body.equals(kept)).toBe(true);
    const other = randomBytes(50_000);
    next = () => markStableBody({ statusCode: 200, body: other.toString('base64'), isBase64Encoded: true }, source);
    expect((await send(url, 'GET', '/answer')).body.equals(other)).toBe(true);
    // A range of the same file: a body of its own, from the same source's bytes.
    const slice = kept.subarray(10, 20);
    next = () => {
      const whole = markStableBody({ statusCode: 200, body: source.base64 as string, isBase64Encoded: true }, source);
      return { ...whole, statusCode: 206, body: slice.toString('base64') };
    };
    expect((await send(url, 'GET', '/answer')).body.equals(slice)).toBe(true);
  });

  it('sends no body for HEAD and keeps the handler Content-Length, whatever the body', async () => {
    const kept = randomBytes(20_000);
    const source: StableBody = { base64: kept.toString('base64') };
    next = () =>
      markStableBody(
        {
          statusCode: 200,
          headers: { 'Content-Length': String(kept.length) },
          body: source.base64 as string,
          isBase64Encoded: true,
        },
        source,
      );
    const head = await send(url, 'HEAD', '/answer');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(kept.length));
    expect((await send(url, 'GET', '/answer')).body.equals(kept)).toBe(true);
  });
});
