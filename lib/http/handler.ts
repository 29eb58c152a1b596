/**
 * The one wrapper every HTTP handler goes through: auth, method dispatch, error mapping, the ids every log line of
 * the request carries, and one summary line per request that is also its metrics. Nothing escapes it as an
 * exception (API Gateway would turn that into a 502).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { BadRequestError, errorAnswer, MethodNotAllowedError } from '../errors';
import { counted, lambdaFields, withInvocation } from '../util/invocation';
import { describeError, enabled, log } from '../util/log';
import { emfMembers, type MetricGroup } from '../util/metrics';
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
    const method = typeof event?.httpMethod === 'string' ? event.httpMethod : undefined;
    // Every line this request causes carries these, down to lib/storage (lib/util/invocation.ts).
    const fields = {
      apiRequestId: event?.requestContext?.requestId,
      ...lambdaFields(context, route),
      Route: route,
      method,
    };
    return withInvocation(fields, async () => {
      const started = Date.now();
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
        answer = errorAnswer(err, (cause) => log('error', 'request failed', describeError(cause)));
      }
      // Built only to be written: at LOG_LEVEL=error the summary (and its metrics) is dropped anyway.
      if (enabled('info')) log('info', 'request', requestSummary(route, event, answer, Date.now() - started));
      return answer;
    });
  };
}

/**
 * The request's one summary line, which is also its metrics (lib/util/metrics.ts): per route and status class its
 * count, latency and bytes in and out; per route the S3 requests it made and what it counted on its way (exercise
 * cache hits and misses, archive builds).
 */
function requestSummary(
  route: string,
  event: APIGatewayProxyEvent | null | undefined,
  answer: HttpAnswer,
  ms: number,
): Record<string, unknown> {
  const status = answer.statusCode;
  const bytesOut = answer.isBase64Encoded ? Buffer.byteLength(answer.body, 'base64') : Buffer.byteLength(answer.body);
  const perRoute: MetricGroup['values'] = { S3Requests: 0 };
  for (const [name, value] of counted()) perRoute[name] = value;
  return {
    status,
    ...emfMembers([
      {
        dimensions: { Route: route, StatusClass: `${Math.floor(status / 100)}xx` },
        values: { Requests: 1, Latency: ms, BytesIn: requestBytes(event), BytesOut: bytesOut },
      },
      { dimensions: { Route: route }, values: perRoute },
    ]),
  };
}

/** The decoded size of the request body, for the log line. */
function requestBytes(event: APIGatewayProxyEvent | null | undefined): number {
  const body = event?.body;
  if (typeof body !== 'string') return 0;
  return event?.isBase64Encoded ? Buffer.byteLength(body, 'base64') : Buffer.byteLength(body);
}
