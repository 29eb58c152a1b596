/**
 * The local stand-in for API Gateway: turns each HTTP request into the REST proxy event the handler gets in AWS
 * (every body base64, as with binary media types `*\/*`), calls the handler named in `serverless.yml`, and writes
 * its answer back, with AWS's body caps.
 *
 * What API Gateway does in front of a function, done here before a handler runs (docs/protocol.md §8.1): HTTP/1.0
 * and 1.1 only (505 otherwise); the requests of one connection one after another (lib/local/connection-order.ts);
 * the credentials checked from the headers, with the handler's own check, before a body is read; and the bodies in
 * flight bounded in memory (lib/local/body-budget.ts).
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  maxHeaderSize,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { errorAnswer, HttpError, ServiceUnavailableError } from '../errors';
import type { LambdaHttpHandler } from '../http/handler';
import { type HttpRequest, headerLookup } from '../http/request';
import { base64Length } from '../lambda-limits';
import { dictionary } from '../util/dictionary';
import { describeError, log } from '../util/log';
import { BodyBudget, type BodyClaim } from './body-budget';
import { answerAndClose } from './close-unread';
import { ConnectionOrder } from './connection-order';
import {
  API_GATEWAY_MAX_BODY_BYTES,
  LAMBDA_MAX_PAYLOAD_BYTES,
  MAX_BODY_BYTES_THROUGH_LAMBDA,
  RESULT_TOO_LARGE_MESSAGE,
  TOO_LARGE_MESSAGE,
} from './limits';
import { matchRoute, type Route } from './routes';
import type { StoreEndpoint } from './store-endpoint';

export interface LocalServerOptions {
  routes: readonly Route[];
  handlers: Readonly<Record<string, LambdaHttpHandler>>;
  stage?: string;
  /** How long a client may take to send a whole request (default `REQUEST_TIMEOUT_MS`). */
  requestTimeoutMs?: number;
  /** The folder store's presigned URLs (`/<bucket>/…`), answered here as S3 would answer them. */
  store?: StoreEndpoint;
  /**
   * API Gateway's own answer to an unknown route (its MISSING_AUTHENTICATION_TOKEN gateway response); by default the
   * one serverless.yml configures. The "as deployed" tier (test/deployed) passes the generated template's.
   */
  unknownRoute?: GatewayResponse;
  /** The bytes of request bodies held in memory at once (default `MAX_BODY_BYTES_IN_FLIGHT`). */
  maxBodyBytesInFlight?: number;
  /**
   * The handlers' own credential check (`authenticate` of lib/http/auth.ts, which `npm start` passes), run from the
   * headers before a body is read: a request it refuses is answered as the handler would answer it, and its body is
   * never read. Without it every body is read and the handler decides, as behind API Gateway, which checks no
   * credentials (the "as deployed" tier, whose functions read theirs from SSM).
   */
  authenticate?: (header: HttpRequest['header']) => Promise<void>;
}

export interface GatewayResponse {
  status: number;
  contentType: string;
  body: string;
}

/**
 * A client that declares more body than it sends and keeps the connection open would otherwise hold the request
 * for Node's default of 300 s. After this long the server answers 408 and closes; the handler never runs, so nothing
 * is written. 30 s matches the 29 s API Gateway integration timeout; in AWS, API Gateway deals with such clients itself
 * (and a `Content-Length` shorter than the body leaves the rest to Node's parser, which answers 400 and closes).
 */
export const REQUEST_TIMEOUT_MS = 30_000;

class BodyTooLarge extends Error {}

/** A body that would take the bodies in flight past their bound (`BodyBudget`). */
class BodiesInFlightFull extends Error {}

/** What one server keeps across its requests. */
interface ServerState {
  options: LocalServerOptions;
  bodies: BodyBudget;
}

export function createLocalServer(options: LocalServerOptions): Server {
  for (const route of options.routes) {
    if (!options.handlers[route.handler]) {
      throw new Error(`serverless.yml names the handler ${route.handler}, which functions/index.ts does not export.`);
    }
  }
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const serverOptions = {
    requestTimeout,
    headersTimeout: Math.min(requestTimeout, 10_000),
    // How often Node checks those timeouts (default 30 s, which would stretch a short one).
    connectionsCheckingInterval: Math.min(requestTimeout, 1_000),
  };
  const state: ServerState = {
    options,
    bodies: new BodyBudget(options.maxBodyBytesInFlight),
  };
  const order = new ConnectionOrder();
  const serve = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void =>
    order.enqueue(req, res, () => {
      serveRequest(state, req, res, expectsContinue).catch((err: unknown) => {
        log('error', 'local server failure', describeError(err));
        if (!res.headersSent) answerItself(req, res, 500, 'local-server', 'The local server failed; see its log.');
        else res.destroy();
      });
    });
  const server = createServer(serverOptions, (req, res) => serve(req, res, false));
  // Expect: 100-continue (the worker's result PUT): the request is checked like any other before its body is read,
  // and only then is the body asked for, so a refused body is never sent, and an accepted one without delay.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => serve(req, res, true));
  // Node leaves to the server a request it cannot parse or that runs out of time (400, 408, 413, 431, 505): answered
  // in its turn, after the requests before it on the connection (never in place of one of their answers), with a log
  // line, and the connection closed.
  server.on('clientError', (err: NodeJS.ErrnoException, duplex: Duplex) => {
    const socket = duplex as Socket;
    if (err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const { status, code, message } = clientErrorAnswer(err);
    const answer = (): void => {
      if (socket.writable) {
        log('info', 'request', { route: 'local-server', status, code, parserCode: err.code });
        const body = JSON.stringify(errorBody(code, message));
        socket.write(
          `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      }
      socket.destroy();
    };
    order.fail(socket, answer, () => socket.destroy());
  });
  return server;
}

/**
 * The answer to a request Node could not take (lib `_http_server.js` leaves them to the server): headers too large,
 * too slow, a chunk extension too long, an HTTP version it does not speak, or anything else it cannot parse.
 */
function clientErrorAnswer(err: NodeJS.ErrnoException): { status: number; code: string; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers-too-large', message: 'The request line and headers are too large.' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request-timeout', message: 'The request did not arrive whole in time.' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'payload-too-large', message: 'A chunk extension of the body is too large.' };
    case 'HPE_PAUSED_H2_UPGRADE':
      // The HTTP/2 connection preface (RFC 9113 §3.4), from a client that assumes HTTP/2 without asking.
      return httpVersionNotSupported('HTTP/2.0');
    case 'HPE_INVALID_VERSION':
      // llhttp's reason when the version is well-formed (`HTTP/<digit>.<digit>`, RFC 9112 §2.3) but not one it
      // parses; a malformed one (`HTTP/1.10`, `HTTP/2`) is not a version at all, so the request is malformed.
      if ((err as { reason?: unknown }).reason === 'Invalid HTTP version') return httpVersionNotSupported(undefined);
      break;
  }
  return { status: 400, code: 'bad-request', message: 'The request is not valid HTTP/1.1.' };
}

/** RFC 9110 §15.6.6: the server does not support the major version of the request (it speaks 1.0 and 1.1). */
function httpVersionNotSupported(version: string | undefined): { status: 505; code: string; message: string } {
  const what = version ? `The request is ${version}; this` : 'This';
  return {
    status: 505,
    code: 'http-version-not-supported',
    message: `${what} server speaks HTTP/1.1 and HTTP/1.0 only.`,
  };
}

/** Whether `req` is in a version this server speaks: HTTP/1.0 or HTTP/1.1 (Node also parses 0.9 and 2.0 lines). */
function speaksVersion(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 1 && (req.httpVersionMinor === 0 || req.httpVersionMinor === 1);
}

/** One request, in its turn on its connection. */
async function serveRequest(
  state: ServerState,
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue: boolean,
): Promise<void> {
  if (!speaksVersion(req)) {
    const { status, code, message } = httpVersionNotSupported(`HTTP/${req.httpVersion}`);
    answerItself(req, res, status, code, message, true);
    return;
  }
  const store = state.options.store;
  if (store?.owns(pathOf(req.url ?? '/'))) {
    // A presigned PUT goes to the store, which checks its signature from the headers and takes up to 5 GiB, as S3
    // does, streamed to disk rather than held in memory.
    if (expectsContinue) res.writeContinue();
    await store.handle(req, res);
    return;
  }
  await handle(state, req, res, expectsContinue);
}

/**
 * A body that cannot fit is refused from its declared `Content-Length`, before it is read (and, after
 * `Expect: 100-continue`, before it is sent): above 10 MB API Gateway refuses it, and above 4.5 MiB its base64 alone
 * is larger than the Lambda payload. Whether a smaller body fits is known once the event is built.
 */
function refuseDeclaredTooLarge(options: LocalServerOptions, req: IncomingMessage, res: ServerResponse): boolean {
  const declared = declaredLength(req);
  if (declared <= MAX_BODY_BYTES_THROUGH_LAMBDA) return false;
  const { code, message } = tooLarge(options, req);
  answerItself(req, res, 413, code, message, true);
  return true;
}

/** The 413 for `req`: a worker's result PUT gets its own, naming the bound it must stay below. */
function tooLarge(options: LocalServerOptions, req: IncomingMessage): { code: string; message: string } {
  const match = matchRoute(options.routes, pathOf(req.url ?? '/'));
  if (req.method === 'PUT' && match?.route.resource === '/results/{name+}') {
    return { code: 'result-too-large', message: RESULT_TOO_LARGE_MESSAGE };
  }
  return { code: 'payload-too-large', message: TOO_LARGE_MESSAGE };
}

function pathOf(url: string): string {
  const queryAt = url.indexOf('?');
  return queryAt < 0 ? url : url.slice(0, queryAt);
}

/**
 * An answer the local server gives itself, as API Gateway would, without calling a handler: logged as a handler's
 * answer is (lib/http/handler.ts), with the path but never the query (which could carry a presigned signature).
 * `closeConnection`: given before the body was read, and the connection closed without reading it
 * (lib/local/close-unread.ts).
 */
function answerItself(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  closeConnection = false,
): void {
  logOwnAnswer(req, status, code);
  const body = errorBody(code, message);
  if (closeConnection) {
    answerAndClose(req, { status, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  } else sendJson(res, status, body);
}

function logOwnAnswer(req: IncomingMessage, status: number, code: string): void {
  log(status >= 500 ? 'error' : 'info', 'request', {
    route: 'local-server',
    method: req.method,
    path: pathOf(req.url ?? '/').slice(0, 200),
    status,
    code,
    declaredBytes: declaredLength(req),
  });
}

async function handle(state: ServerState, req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) {
  const { options, bodies } = state;
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const rawPath = pathOf(url);
  const match = matchRoute(options.routes, rawPath);
  if (!match || (match.route.method !== 'ANY' && match.route.method !== req.method)) {
    // A body announced with Expect: 100-continue is not asked for; the connection closes instead.
    if (!expectsContinue) req.resume();
    if (options.unknownRoute) {
      const { status, contentType, body } = options.unknownRoute;
      logOwnAnswer(req, status, 'no-such-route');
      if (expectsContinue) answerAndClose(req, { status, headers: { 'Content-Type': contentType }, body });
      else {
        res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)) });
        res.end(body);
      }
    } else answerItself(req, res, 404, 'no-such-route', `There is no route ${rawPath}.`, expectsContinue);
    return;
  }
  // The event carries no body yet: the headers decide first.
  const event = toEvent(req, rawPath, queryAt < 0 ? '' : url.slice(queryAt + 1), match, options.stage ?? 'local');
  try {
    // Credentials are decided from the headers, by the handler's own check, before the body is read: a client
    // without them is not asked for its body and holds no memory; the connection closes (its body is never read).
    await options.authenticate?.(headerLookup(event));
  } catch (err) {
    answerError(req, err);
    return;
  }
  if (refuseDeclaredTooLarge(options, req, res)) return;
  const claim = bodies.claim();
  res.once('close', claim.release);
  if (!claim.grow(declaredLength(req))) {
    answerError(req, bodiesInFlightFull(bodies));
    return;
  }
  if (expectsContinue) res.writeContinue();
  let body: Buffer;
  try {
    body = await readBody(req, API_GATEWAY_MAX_BODY_BYTES, claim);
  } catch (err) {
    if (err instanceof BodiesInFlightFull) {
      answerError(req, bodiesInFlightFull(bodies));
      return;
    }
    if (!(err instanceof BodyTooLarge)) throw err;
    const { code, message } = tooLarge(options, req);
    answerItself(req, res, 413, code, message, true);
    return;
  }
  // The event's size as Lambda counts it, with the body's base64 counted by its length: a body refused here is never
  // encoded.
  const bodyLength = base64Length(body.length);
  const mayExceed = EVENT_BOUND_WITHOUT_BODY + bodyLength > LAMBDA_MAX_PAYLOAD_BYTES;
  if (
    mayExceed &&
    payloadBytes({ ...event, body: '', isBase64Encoded: true }) + bodyLength > LAMBDA_MAX_PAYLOAD_BYTES
  ) {
    const { code, message } = tooLarge(options, req);
    answerItself(req, res, 413, code, message);
    return;
  }
  // Every body base64, as API Gateway hands it over with binary media types `*/*`; no body stays `null`.
  if (body.length > 0) {
    event.body = body.toString('base64');
    event.isBase64Encoded = true;
  }
  const handler = options.handlers[match.route.handler] as LambdaHttpHandler;
  let answer: APIGatewayProxyResult;
  try {
    answer = await handler(event, lambdaContext(match.route.handler));
  } catch (err) {
    // What API Gateway answers when the integration fails.
    log('error', 'handler threw', describeError(err));
    logOwnAnswer(req, 502, 'handler-threw');
    sendJson(res, 502, { message: 'Internal server error' });
    return;
  }
  const answerBytes = payloadBytes(answer);
  if (answerBytes > LAMBDA_MAX_PAYLOAD_BYTES) {
    log('error', 'answer exceeds the Lambda payload limit', { bytes: answerBytes });
    logOwnAnswer(req, 502, 'answer-too-large');
    sendJson(res, 502, { message: 'Internal server error' });
    return;
  }
  writeAnswer(req, res, answer, event.requestContext.requestId);
}

/** The event of a request, with no body yet. */
function toEvent(
  req: IncomingMessage,
  path: string,
  query: string,
  match: NonNullable<ReturnType<typeof matchRoute>>,
  stage: string,
): APIGatewayProxyEvent {
  // Keyed by the client's header and query names, which may be `valueOf` or `__proto__` (lib/util/dictionary.ts); API
  // Gateway's events are parsed JSON, where such a key is a key like any other.
  const headers = dictionary<string>();
  const multiValueHeaders = dictionary<string[]>();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    const value = req.rawHeaders[i + 1] as string;
    headers[name] = value;
    const values = multiValueHeaders[name];
    if (values) values.push(value);
    else multiValueHeaders[name] = [value];
  }
  const queryStringParameters = dictionary<string>();
  const multiValueQueryStringParameters = dictionary<string[]>();
  for (const [name, value] of new URLSearchParams(query)) {
    queryStringParameters[name] = value;
    const values = multiValueQueryStringParameters[name];
    if (values) values.push(value);
    else multiValueQueryStringParameters[name] = [value];
  }
  const hasQuery = Object.keys(queryStringParameters).length > 0;
  const requestId = randomUUID();
  return {
    resource: match.route.resource,
    path,
    httpMethod: req.method ?? 'GET',
    headers,
    multiValueHeaders,
    queryStringParameters: hasQuery ? queryStringParameters : null,
    multiValueQueryStringParameters: hasQuery ? multiValueQueryStringParameters : null,
    pathParameters: match.pathParameters,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      authorizer: undefined,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: req.method ?? 'GET',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        user: null,
        userAgent: req.headers['user-agent'] ?? null,
        userArn: null,
      },
      path: `/${stage}${path}`,
      stage,
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: 'local',
      resourcePath: match.route.resource,
    },
  };
}

/**
 * An upper bound of an event's JSON size without its body, so that most events need no serialising to be checked.
 * Node answers 431 to a request line plus headers above `maxHeaderSize` (16 KiB unless `--max-http-header-size`);
 * each of their characters appears in the event at most three times (the path as `path`, `requestContext.path` and
 * a path parameter; the query twice; a header in `headers`, `multiValueHeaders` and perhaps `identity`), and takes
 * at most 6 bytes in JSON (`\u00XX`). 4 KiB covers the rest: field names, the route template, ids and times.
 */
const EVENT_BOUND_WITHOUT_BODY = 4096 + 3 * 6 * maxHeaderSize;

/**
 * The UTF-8 size of `JSON.stringify(payload)`, which is what Lambda's 6 MB limit counts, without serialising a
 * base64 body: base64 needs no JSON escaping, so it adds exactly its length. Serialising whole events and answers
 * was most of this server's CPU time on 1 MiB downloads (`npm run bench -- --profile`).
 */
export function payloadBytes(payload: { body?: string | null; isBase64Encoded?: boolean }): number {
  const { body } = payload;
  if (!payload.isBase64Encoded || typeof body !== 'string') return Buffer.byteLength(JSON.stringify(payload));
  return Buffer.byteLength(JSON.stringify({ ...payload, body: '' })) + body.length;
}

/** The Context's functions, shared by every invocation (Lambda's own would say how much time is left). */
const CONTEXT_FUNCTIONS = {
  getRemainingTimeInMillis: (): number => 29_000,
  done: (): undefined => undefined,
  fail: (): undefined => undefined,
  succeed: (): undefined => undefined,
};

function lambdaContext(functionName: string): Context {
  return {
    awsRequestId: randomUUID(),
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    ...CONTEXT_FUNCTIONS,
  };
}

function writeAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  answer: APIGatewayProxyResult,
  requestId: string,
): void {
  // HEAD keeps the handler's Content-Length (GET's length). A 304 has no content, and a Content-Length on it must
  // be the 200's or absent (RFC 9110 §8.6, §15.4.5), so it keeps the handler's headers, which carry none.
  const body = req.method === 'HEAD' || answer.statusCode === 304 ? undefined : answerBody(answer);
  const headers = dictionary<string | string[]>();
  const single = answer.headers ?? {};
  for (const name of Object.keys(single)) {
    if (!body || !isContentLength(name)) headers[name] = String(single[name]);
  }
  const multi = answer.multiValueHeaders ?? {};
  for (const name of Object.keys(multi)) {
    if (!body || !isContentLength(name)) headers[name] = (multi[name] as (string | number | boolean)[]).map(String);
  }
  if (body) headers['Content-Length'] = String(body.length);
  // As API Gateway answers a REST API request: the request id, which every log line of the request carries as
  // `apiRequestId` (docs/deploy.md, "Logs").
  headers['x-amzn-RequestId'] = requestId;
  res.writeHead(answer.statusCode, headers);
  res.end(body);
}

function isContentLength(name: string): boolean {
  return name.length === 14 && name.toLowerCase() === 'content-length';
}

/** The bytes an answer carries: API Gateway decodes a base64 body (binary media types `*\/*`). */
function answerBody(answer: APIGatewayProxyResult): Buffer {
  return Buffer.from(answer.body ?? '', answer.isBase64Encoded ? 'base64' : 'utf8');
}

function declaredLength(req: IncomingMessage): number {
  const value = req.headers['content-length'];
  // Node has already refused a Content-Length that is not a number (400).
  return value === undefined ? 0 : Number(value);
}

/**
 * The whole body of `req`, at most `limit` bytes, counted against the bodies in flight: `claim` holds the declared
 * length already, and a chunked body takes its bytes as they arrive.
 */
function readBody(req: IncomingMessage, limit: number, claim: BodyClaim): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let claimed = declaredLength(req);
    const stop = (err: Error): void => {
      req.removeAllListeners('data');
      req.resume();
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) return stop(new BodyTooLarge());
      if (total > claimed) {
        if (!claim.grow(total - claimed)) return stop(new BodiesInFlightFull());
        claimed = total;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    // A connection that closed before this request's turn came has ended its body already.
    if (req.destroyed) reject(new Error('The request was aborted before its body was read.'));
  });
}

/** The 503 past the bound of bodies in flight: the request may be sent again in a moment, as it is. */
function bodiesInFlightFull(bodies: BodyBudget): ServiceUnavailableError {
  const mib = Math.round(bodies.limit / (1024 * 1024));
  return new ServiceUnavailableError(
    'server-busy',
    `The local server holds as many request bodies in memory as it takes at once (${mib} MiB in flight); ` +
      'send the request again in a moment.',
  );
}

/**
 * An error answered by the local server itself as the handler would answer it (lib/errors.ts: the same status,
 * headers such as `WWW-Authenticate` and `Retry-After`, and JSON body), before the body was read, so the connection
 * is closed rather than read to the end of a body it does not want (lib/local/close-unread.ts).
 */
function answerError(req: IncomingMessage, err: unknown): void {
  const { statusCode, headers, body } = errorAnswer(err, (cause) =>
    log('error', 'local server failure', describeError(cause)),
  );
  logOwnAnswer(req, statusCode, err instanceof HttpError ? err.code : 'internal');
  answerAndClose(req, { status: statusCode, headers, body });
}

function errorBody(code: string, message: string): unknown {
  return { result: 'ERROR', error: { code, message } };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}
