import { S3Client } from '@aws-sdk/client-s3';
import { config } from '../../config';
import { count } from '../../util/invocation';
import { PARALLEL_REQUESTS } from '../object-store';

let client: S3Client | undefined;

/**
 * Retries, chosen deliberately rather than inherited. `standard` retries S3's 500/502/503/504, 503 SlowDown (with a
 * 500 ms throttling backoff base), timeouts and connection resets, with jittered exponential backoff and a retry
 * quota that stops retry storms when S3 is really down. `adaptive` would add a client-side rate limiter, which helps
 * a long-lived process that shares one client, not a Lambda instance that serves one request at a time. Three
 * attempts: a fourth would not fit a stalled S3 into the 29 s API Gateway integration timeout (below).
 */
export const S3_RETRY = { retryMode: 'standard', maxAttempts: 3 } as const;

/**
 * Timeouts, so that a stalled S3 answer becomes a retried `TimeoutError` instead of a request that hangs until API
 * Gateway gives up after 29 s (its integration timeout) and the client sees a 504 without a reason.
 * - `connectionTimeout` 2 s: an in-region TCP connect to S3 takes milliseconds; 2 s is only ever a dead endpoint.
 * - `requestTimeout` 5 s from the start of the request to S3's response headers, with `throwOnRequestTimeout` (without
 *   it the SDK only logs a warning). It includes sending the body: a 5 MiB lib-storage part or a 4.5 MB PutObject
 *   (the largest body a Lambda receives) takes well under a second inside a region. Worst case per call:
 *   3 attempts × 5 s + backoff ≈ 18 s, so the handler still answers (503) within the 29 s. The timer runs from the
 *   first byte sent to the response headers, so it assumes at least about 1 MiB/s to S3 (a 5 MiB part in 5 s):
 *   true inside a region; a remote S3_ENDPOINT over a slow link would see large writes time out.
 * - No `socketTimeout` (an idle timeout that also covers the body once the headers arrived): the archive builder opens
 *   files ahead of the zip writer (`PREFETCH_FILES`), and those streams are idle by design, paused by backpressure,
 *   for as long as a large file ahead of them takes to deflate. A stall in the middle of a body is bounded by the
 *   function timeout instead (29 s for HTTP, 15 min for the archiver, which Lambda then retries).
 */
export const S3_TIMEOUTS = { connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true } as const;

/**
 * Sockets the client keeps to S3 (the SDK's default is 50). An operation sends up to `PARALLEL_REQUESTS` at once, and
 * a submission POST its archive beside them: with fewer sockets the rest would wait for a free one, a round trip
 * later (docs/benchmarks.md, "S3 round trips in a row"). Twice that leaves room for `npm start` over an S3 endpoint,
 * which serves several requests in one process; a Lambda instance serves one at a time.
 */
export const S3_MAX_SOCKETS = 2 * PARALLEL_REQUESTS;

/** The one S3 client of this instance, built on first use from the configuration. */
export function s3(): S3Client {
  if (client) return client;
  const { s3Endpoint, region } = config();
  client = new S3Client({
    region,
    // s3rver and LocalStack answer on one host; path-style keeps the bucket out of the host name.
    ...(s3Endpoint ? { endpoint: s3Endpoint, forcePathStyle: true } : {}),
    // docs/development.md, "Pitfalls of the toolchain", S3 checksums and s3rver: the default (WHEN_SUPPORTED) sends stream bodies aws-chunked, which s3rver stores
    // with its framing, and bakes the CRC32 of an empty body into presigned PUT URLs (aws/aws-sdk-js-v3#6994).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...S3_RETRY,
    requestHandler: {
      ...S3_TIMEOUTS,
      httpAgent: { maxSockets: S3_MAX_SOCKETS },
      httpsAgent: { maxSockets: S3_MAX_SOCKETS },
    },
  });
  // Counts every HTTP request sent for the invocation running now (lib/util/invocation.ts), for its `S3Requests`
  // metric. In the deserialize step, which the retry middleware (finalizeRequest) runs once per attempt: S3 bills a
  // retried request as often as it was sent.
  client.middlewareStack.add(
    (next) => (args) => {
      count('S3Requests');
      return next(args);
    },
    { step: 'deserialize', name: 'countS3Requests' },
  );
  return client;
}
