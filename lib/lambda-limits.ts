/**
 * What one request and one answer can carry through API Gateway (REST) and a synchronous Lambda invocation
 * (docs/protocol.md, "Bounds and bad input"). Binary bodies travel base64-encoded (binary media type `*\/*`), so
 * 4 bytes of payload carry 3 bytes of a body.
 */

/** The length of the base64 form (RFC 4648 §4, padded) of `size` bytes. */
export function base64Length(size: number): number {
  return 4 * Math.ceil(size / 3);
}

/** API Gateway REST: at most 10 MB of request body. */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Lambda synchronous invocation: the event and the answer are each at most 6 MB (6,291,456 bytes) of JSON. */
export const LAMBDA_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * The largest request body whose base64 alone fits the Lambda payload: 4,718,592 bytes (4.5 MiB). The event's other
 * fields (the request's headers, path and context, typically 1 to 3 KB) take their share too, so a body that
 * passes this bound may still be refused once the event is built; one above it never fits.
 */
export const MAX_BODY_BYTES_THROUGH_LAMBDA = (LAMBDA_MAX_PAYLOAD_BYTES / 4) * 3;

/**
 * Room an inline download's answer needs beside its base64 body: the status, about ten headers (a
 * `Content-Disposition` with a 128-character name is the longest) and the JSON around them take well under 2 KB.
 */
const ANSWER_ENVELOPE_BYTES = 8 * 1024;

/** The largest `INLINE_LIMIT_BYTES`: 4,712,448 bytes, whose base64 and headers still fit one Lambda answer. */
export const MAX_INLINE_BYTES = Math.floor((LAMBDA_MAX_PAYLOAD_BYTES - ANSWER_ENVELOPE_BYTES) / 4) * 3;
