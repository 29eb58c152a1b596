/**
 * The one wrapper every HTTP handler goes through: auth, method dispatch, error mapping and one log line per
 * request. Nothing escapes it as an exception (API Gateway would turn that into a 502).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { BadRequestError, errorAnswer, MethodNotAllowedError } from '../errors';
import { describeError, log } from '../util/log';
import { authenticate } from './auth';
import { type HttpAnswer, type HttpRequest, toRequest } from './request';

export type RouteMethod = (request: HttpRequest) => Promise<HttpAnswer>;

export type LambdaHttpHandler = (event: APIGatewayProxyEvent, context?: Context) => Promise<APIGatewayProxyResult>;

/**
 * A Lambda handler for one route: `methods` maps each allowed method to its implementation; any other method is a
 * 405 with `Allow` (docs/protocol.md §2).
 */
export function httpHandler(route: string, methods: Partial<Record<string, RouteMethod>>): LambdaHttpHandler {
  // HEAD wherever GET exists (RFC 9110 §9.3.2): a route without its own HEAD answers GET's headers, no body.
  // A Map: the method is the client's word, and must not find Object.prototype's members.
  const all = new Map<string, RouteMethod>();
  for (const [name, run] of Object.entries(methods)) if (run) all.set(name, run);
  const get = methods.GET;
  if (get && !all.has('HEAD')) {
    all.set('HEAD', async (request) => ({ ...(await get(request)), body: '', isBase64Encoded: false }));
  }
  const allowed = [...all.keys()];
  return async (event, context) => {
    const started = Date.now();
    const requestId = context?.awsRequestId ?? event?.requestContext?.requestId;
    const method = typeof event?.httpMethod === 'string' ? event.httpMethod : undefined;
    let answer: HttpAnswer;
    try {
      if (!method) {
        // A direct invocation (test event, warm-up ping) rather than an API Gateway proxy event.
        throw new BadRequestError('bad-event', 'This function answers API Gateway REST proxy events only.');
      }
      const request = toRequest(event);
      await authenticate(request.header);
      const run = all.get(request.method);
      if (!run) throw new MethodNotAllowedError(request.method, allowed);
      answer = await run(request);
    } catch (err) {
      answer = errorAnswer(err, (cause) =>
        log('error', 'request failed', { requestId, route, method, ...describeError(cause) }),
      );
    }
    log('info', 'request', {
      requestId,
      route,
      method,
      status: answer.statusCode,
      requestBytes: requestBytes(event),
      responseBytes: answer.isBase64Encoded ? Buffer.byteLength(answer.body, 'base64') : Buffer.byteLength(answer.body),
      ms: Date.now() - started,
    });
    return answer;
  };
}

/** The decoded size of the request body, for the log line. */
function requestBytes(event: APIGatewayProxyEvent | null | undefined): number {
  const body = event?.body;
  if (typeof body !== 'string') return 0;
  return event?.isBase64Encoded ? Buffer.byteLength(body, 'base64') : Buffer.byteLength(body);
}
