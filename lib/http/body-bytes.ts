/**
 * The bytes behind a base64 body, handed along beside it when the local API Gateway stand-in (lib/local/server.ts)
 * and the handler run in one process, so that neither encodes what the other only decodes again.
 *
 * In AWS every body crosses a JSON boundary as base64 (binary media types `*\/*`): the event arrives parsed from JSON
 * and the answer leaves through `JSON.stringify`. Both hand-overs are symbol-keyed properties, which JSON never
 * carries: a deployed function never sees them. The request's bytes are non-enumerable, so that an object spread
 * does not copy them into an event that may carry another body; an answer's stable body holds only while the answer
 * carries exactly its string, which is checked where it is used. docs/design.md, "Local mode".
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';

const REQUEST_BYTES = Symbol('request body bytes');
const STABLE_BODY = Symbol('stable answer body');

/** The length of the base64 form (RFC 4648 §4, padded) of `size` bytes. */
export function base64Length(size: number): number {
  return 4 * Math.ceil(size / 3);
}

/**
 * Gives `event` the base64 body of `bytes`, encoded only if something reads it (a handler in another process, a
 * serialised event), and the bytes themselves for `requestBodyBytes`.
 */
export function setRequestBody(event: APIGatewayProxyEvent, bytes: Buffer): void {
  let encoded: string | undefined;
  Object.defineProperty(event, 'body', {
    enumerable: true,
    configurable: true,
    get: () => {
      encoded ??= bytes.toString('base64');
      return encoded;
    },
    // Whoever replaces the body replaces the bytes too: it becomes a plain property, and the bytes are gone.
    set: (value: string | null) => {
      Object.defineProperty(event, 'body', { value, enumerable: true, configurable: true, writable: true });
      delete (event as unknown as Record<symbol, unknown>)[REQUEST_BYTES];
    },
  });
  Object.defineProperty(event, REQUEST_BYTES, { value: bytes, configurable: true });
  event.isBase64Encoded = true;
}

/** The bytes `setRequestBody` gave `event`, or `undefined` for an event that carries only its body text. */
export function requestBodyBytes(event: APIGatewayProxyEvent): Buffer | undefined {
  const bytes = (event as unknown as Record<symbol, unknown>)[REQUEST_BYTES];
  return event.isBase64Encoded && Buffer.isBuffer(bytes) ? bytes : undefined;
}

/**
 * A base64 answer body that is the very same string on every answer that carries it (a cached file's), so that a
 * local server may keep its decoded bytes instead of decoding it per answer. `base64` never changes.
 */
export interface StableBody {
  readonly base64: string | undefined;
}

/**
 * Marks `answer`'s body as `source.base64`, for `stableBodyOf`. A plain assignment, a third of the cost of defining a
 * hidden property, on every cache hit: a copy of the answer keeps the mark, which counts only with the same body.
 */
export function markStableBody<T extends object>(answer: T, source: StableBody): T {
  (answer as Record<symbol, unknown>)[STABLE_BODY] = source;
  return answer;
}

/**
 * The stable source of `answer`'s body, if it was marked and still carries exactly that string (`===` on one string
 * is a pointer comparison; a body that was replaced since, on the answer or on a copy, no longer matches).
 */
export function stableBodyOf(answer: { body?: string | null; isBase64Encoded?: boolean }): StableBody | undefined {
  const source = (answer as Record<symbol, unknown>)[STABLE_BODY] as StableBody | undefined;
  if (!source || !answer.isBase64Encoded || typeof answer.body !== 'string') return undefined;
  return source.base64 === answer.body ? source : undefined;
}
