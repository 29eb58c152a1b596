/**
 * The body limits of the cloud path, enforced locally so local behaviour tells the truth about AWS
 * (PROTOCOL.md §7).
 */

/** API Gateway REST: the maximum payload is 10 MB. */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Lambda synchronous invocation: request and response payloads are limited to 6 MB (6,291,456 bytes). */
export const LAMBDA_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

export const TOO_LARGE_MESSAGE =
  'The request body is too large to pass through API Gateway and Lambda (10 MB per request, about 4.5 MB of ' +
  'binary data once base64-encoded into the 6 MB Lambda payload). Split the upload into smaller requests.';
