/**
 * The HTTP side of a Lambda proxy integration: reading an API Gateway REST event, and building answers, including
 * the answer that serves a stored object inline or by redirect (PROTOCOL.md §7).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { config } from './config';
import { NotFoundError } from './errors';
import type { ByteLru } from './lru';
import { getObject, headObject, presignGet } from './storage';
import { readSmall } from './streams';

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
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers.set(name.toLowerCase(), value);
  }
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.pathParameters ?? {})) {
    if (value !== undefined) params[name] = value;
  }
  // With binary media type */* every body arrives base64; keep plain bodies working too (TOOLCHAIN.md pitfall 1).
  const body =
    event.body == null ? Buffer.alloc(0) : Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8');
  return { method: event.httpMethod.toUpperCase(), params, header: (name) => headers.get(name.toLowerCase()), body };
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

export interface ServeOptions {
  contentType: string;
  /** Named in the error when the object is missing. */
  notFound: () => NotFoundError;
  /** For `Content-Disposition: attachment` on the presigned redirect. */
  filename?: string;
  /** Objects that never change may be kept in memory and answered from there (exercise files). */
  cache?: ByteLru<CachedObject>;
}

/** An inline-sized object kept in memory: its bytes and its ETag. */
export interface CachedObject {
  bytes: Buffer;
  etag: string;
  readonly byteLength: number;
}

/**
 * GET or HEAD of the object at `key`. Small objects are answered inline; objects above the inline limit are
 * redirected (302) to a short-lived presigned S3 URL, because a Lambda answer cannot carry them.
 */
export async function serveObject(method: string, key: string, options: ServeOptions): Promise<HttpAnswer> {
  const { inlineLimitBytes } = config();
  const cached = options.cache?.get(key);
  if (cached) return inlineAnswer(method, options.contentType, cached.bytes, cached.etag);
  if (method === 'HEAD') {
    const head = await headObject(key);
    if (!head) throw options.notFound();
    if (head.size > inlineLimitBytes) return redirect(await presignGet(key, options.filename));
    return { statusCode: 200, headers: objectHeaders(options.contentType, head.size, head.etag), body: '' };
  }
  const object = await getObject(key);
  if (!object) throw options.notFound();
  if (object.size > inlineLimitBytes) {
    object.body.destroy();
    return redirect(await presignGet(key, options.filename));
  }
  const bytes = await readSmall(object.body, inlineLimitBytes);
  options.cache?.set(key, { bytes, etag: object.etag, byteLength: bytes.length });
  return inlineAnswer(method, options.contentType, bytes, object.etag);
}

function inlineAnswer(method: string, contentType: string, bytes: Buffer, etag: string): HttpAnswer {
  const headers = objectHeaders(contentType, bytes.length, etag);
  if (method === 'HEAD') return { statusCode: 200, headers, body: '' };
  return { statusCode: 200, headers, body: bytes.toString('base64'), isBase64Encoded: true };
}

function objectHeaders(contentType: string, size: number, etag: string): Record<string, string> {
  return {
    'Content-Type': contentType,
    'Content-Length': String(size),
    ...(etag ? { ETag: etag } : {}),
    'X-Content-Type-Options': 'nosniff',
  };
}

function redirect(location: string): HttpAnswer {
  // No-store: the presigned URL expires, a cached redirect would not.
  return { statusCode: 302, headers: { Location: location, 'Cache-Control': 'no-store' }, body: '' };
}
