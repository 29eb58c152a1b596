import { S3Client } from '@aws-sdk/client-s3';
import { config } from './config';

let client: S3Client | undefined;

/** The one S3 client of this instance, built on first use from the configuration. */
export function s3(): S3Client {
  if (client) return client;
  const { s3Endpoint, region } = config();
  client = new S3Client({
    region,
    // s3rver and LocalStack answer on one host; path-style keeps the bucket out of the host name.
    ...(s3Endpoint ? { endpoint: s3Endpoint, forcePathStyle: true } : {}),
    // TOOLCHAIN.md pitfall 2: the default (WHEN_SUPPORTED) sends stream bodies aws-chunked, which s3rver stores
    // with its framing, and bakes the CRC32 of an empty body into presigned PUT URLs (aws/aws-sdk-js-v3#6994).
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return client;
}
