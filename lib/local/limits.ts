/**
 * The body limits of the cloud path, enforced locally so local behaviour tells the truth about AWS
 * (docs/protocol.md §7; docs/protocol.md, "Bounds and bad input").
 */
import { MAX_BODY_BYTES_THROUGH_LAMBDA } from '../lambda-limits';

export { API_GATEWAY_MAX_BODY_BYTES, LAMBDA_MAX_PAYLOAD_BYTES, MAX_BODY_BYTES_THROUGH_LAMBDA } from '../lambda-limits';

/** docs/protocol.md §7: the 413 names the large-upload route, where files of any size go straight to S3. */
export const TOO_LARGE_MESSAGE =
  'The request body is too large to pass through API Gateway and Lambda (10 MB per request, about 4.5 MB of ' +
  'binary data once base64-encoded into the 6 MB Lambda payload). Upload large files through the large-upload ' +
  'route: POST /uploads/<exercises/<sha1>|results/<name>|attachments/<id>|submissions/<id>> with a JSON body ' +
  'gives presigned S3 URLs (docs/protocol.md §7).';

/**
 * A worker PUTs its result archive to the result URL as one body and knows no other route, so its result must fit
 * through Lambda: the 413 says so, with the bound, rather than the generic advice a worker cannot follow.
 */
export const RESULT_TOO_LARGE_MESSAGE =
  `A result PUT to /results/<name> passes through API Gateway and Lambda whole, so its body may be at most ` +
  `${MAX_BODY_BYTES_THROUGH_LAMBDA} bytes (4.5 MiB, base64 within the 6 MB Lambda payload, less the request's ` +
  'headers). ReCodEx workers cannot use the large-upload route: keep job results below this bound (smaller ' +
  'outputs), or have a client that can upload them through POST /uploads/results/<name> (docs/protocol.md).';
