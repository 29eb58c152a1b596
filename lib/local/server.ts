/**
 * The local stand-in for API Gateway: turns each HTTP request into the REST proxy event the handler gets in AWS
 * (every body base64, as with binary media types `*\/*`), calls the handler named in `serverless.yml`, and writes
 * its answer back, with AWS's body caps.
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
import type { LambdaHttpHandler } from '../http/handler';
import { base64Length } from '../lambda-limits';
import { dictionary } from '../util/dictionary';
import { describeError, log } from '../util/log';
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
}

export interface GatewayResponse {
  status: number;
  contentType: string;
  body: string;
}

/**
 * A client that declares more body than it sends and keeps the connection open would otherwise hold the request
 * for Node's default of 300 s. After this long Node answers 408 and closes; the handler never runs, so nothing is
 * written. 30 s matches the 29 s API Gateway integration timeout; in AWS, API Gateway deals with such clients itself
 * (and a `Content-Length` shorter than the body leaves the rest to Node's parser, which answers 400 and closes).
 */
export const REQUEST_TIMEOUT_MS = 30_000;

class BodyTooLarge extends Error {}

/** Node's own answers to a client error (lib `_http_server.js`): headers too large, too slow, or unparsable. */
const CLIENT_ERROR_STATUS = new Map([
  ['HPE_HEADER_OVERFLOW', 431],
  ['ERR_HTTP_REQUEST_TIMEOUT', 408],
  ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 413],
]);

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
  const server = createServer(serverOptions, (req, res) => {
    const store = options.store;
    if (store?.owns(pathOf(req.url ?? '/'))) {
      void store.handle(req, res);
      return;
    }
    handle(options, req, res).catch((err: unknown) => {
      log('error', 'local server failure', describeError(err));
      if (!res.headersSent) answerItself(req, res, 500, 'local-server', 'The local server failed; see its log.');
      else res.destroy();
    });
  });
  // Node answers a request it cannot parse or that runs out of time (400, 408, 431) without a handler; the same
  // answers as its default, with a log line for each.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = CLIENT_ERROR_STATUS.get(err.code ?? '') ?? 400;
    if (err.code !== 'ECONNRESET' && socket.writable && (socket as Socket).bytesWritten === 0) {
      log('info', 'request', { route: 'local-server', status, code: err.code ?? 'bad-request' });
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });
  // Expect: 100-continue (the worker's result PUT): refuse an oversized body before the client sends it,
  // otherwise let it go on at once, so the upload does not stall.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    // A presigned PUT goes to the store, which takes up to 5 GiB, as S3 does.
    if (options.store?.owns(pathOf(req.url ?? '/'))) {
      res.writeContinue();
      server.emit('request', req, res);
      return;
    }
    if (refuseDeclaredTooLarge(options, req, res)) return;
    res.writeContinue();
    server.emit('request', req, res);
  });
  return server;
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
  sendJson(res, status, errorBody(code, message), closeConnection);
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

async function handle(options: LocalServerOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const rawPath = pathOf(url);
  const match = matchRoute(options.routes, rawPath);
  if (!match || (match.route.method !== 'ANY' && match.route.method !== req.method)) {
    req.resume();
    if (options.unknownRoute) {
      const { status, contentType, body } = options.unknownRoute;
      logOwnAnswer(req, status, 'no-such-route');
      res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
    } else answerItself(req, res, 404, 'no-such-route', `There is no route ${rawPath}.`);
    return;
  }
  if (refuseDeclaredTooLarge(options, req, res)) return;
  let body: Buffer;
  try {
    body = await readBody(req, API_GATEWAY_MAX_BODY_BYTES);
  } catch (err) {
    if (!(err instanceof BodyTooLarge)) throw err;
    const { code, message } = tooLarge(options, req);
    answerItself(req, res, 413, code, message, true);
    return;
  }
  const event = toEvent(req, rawPath, queryAt < 0 ? '' : url.slice(queryAt + 1), match, options.stage ?? 'local');
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
  writeAnswer(req, res, answer);
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

function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: APIGatewayProxyResult): void {
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

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function errorBody(code: string, message: string): unknown {
  return { result: 'ERROR', error: { code, message } };
}

function sendJson(res: ServerResponse, status: number, body: unknown, closeConnection = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    ...(closeConnection ? { Connection: 'close' } : {}),
  });
  res.end(text);
}
