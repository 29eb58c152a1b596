/**
 * The HTTP side of a Lambda proxy integration: an API Gateway REST event read as a request, and JSON answers.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { NotFoundError } from '../errors';
import { dictionary } from '../util/dictionary';

export type HttpAnswer = APIGatewayProxyResult;

export interface HttpRequest {
  method: string;
  /** Path parameters as API Gateway gives them (already percent-decoded). */
  params: Record<string, string>;
  /** Header lookup by lowercase name; API Gateway keeps the client's spelling, so the event's map is not used. */
  header(name: string): string | undefined;
  body: Buffer;
}

export function toRequest(event: APIGatewayProxyEvent): HttpRequest {
  const header = headerLookup(event);
  const params = dictionary<string>();
  for (const [name, value] of Object.entries(event.pathParameters ?? {})) {
    if (value !== undefined) params[name] = value;
  }
  // With binary media type */* every body arrives base64; keep plain bodies working too (docs/development.md, "Pitfalls of the toolchain": plain bodies).
  const body =
    event.body == null ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  return { method: event.httpMethod.toUpperCase(), params, header, body };
}

/**
 * The event's headers by lowercase name. API Gateway keeps the client's spelling, and of two headers whose names
 * differ only in case the later one wins, as in `headers` of the event.
 */
export function headerLookup(event: Pick<APIGatewayProxyEvent, 'headers'>): HttpRequest['header'] {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers.set(name.toLowerCase(), value);
  }
  return (name) => headers.get(name.toLowerCase());
}

/** The path parameter `name`; a route without it is a wiring mistake, answered as a missing resource. */
export function param(request: HttpRequest, name: string): string {
  const value = request.params[name];
  if (value === undefined) throw new NotFoundError('not-found', 'No such resource.');
  return value;
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer {
  return { statusCode, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) };
}
