/**
 * The body limits of the cloud path, enforced locally so local behaviour tells the truth about AWS
 * (PROTOCOL.md §7).
 */

/** API Gateway REST: the maximum payload is 10 MB. */
export const API_GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;

/** Lambda synchronous invocation: request and response payloads are limited to 6 MB (6,291,456 bytes). */
export const LAMBDA_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** PROTOCOL.md §7: the 413 names the large-upload route, where files of any size go straight to S3. */
export const TOO_LARGE_MESSAGE =
  'The request body is too large to pass through API Gateway and Lambda (10 MB per request, about 4.5 MB of ' +
  'binary data once base64-encoded into the 6 MB Lambda payload). Upload large files through the large-upload ' +
  'route: POST /uploads/<exercises/<sha1>|results/<name>|attachments/<id>|submissions/<id>> with a JSON body ' +
  'gives presigned S3 URLs (README, "Large uploads").';
