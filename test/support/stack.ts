/**
 * A running local stack for integration tests: the real local server and handlers over a real S3-compatible
 * server (the embedded s3rver, or the one in S3_ENDPOINT), plus direct access to the bucket to prove what was
 * or was not written.
 */
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { type LocalStack, startLocalStack } from '../../lib/local/stack';
import { bucketView } from './bucket-view';

export interface TestStack extends LocalStack {
  /** Every key in the bucket, sorted. */
  keys(): Promise<string[]>;
  /** Whether an object exists at `key` (asked of the store, not of a route). */
  exists(key: string): Promise<boolean>;
  /** The stored bytes at `key`. */
  storedBytes(key: string): Promise<Buffer>;
  s3: S3Client;
}

export async function startTestStack(): Promise<TestStack> {
  const stack = await startLocalStack({ port: 0 });
  const s3 = new S3Client({
    endpoint: stack.s3Endpoint,
    forcePathStyle: true,
    region: process.env.AWS_REGION ?? 'us-east-1',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  // Against an external endpoint (LocalStack), the bucket is the test's to create.
  if (!stack.embedded) {
    try {
      await s3.send(new HeadBucketCommand({ Bucket: stack.bucket }));
    } catch {
      await s3.send(new CreateBucketCommand({ Bucket: stack.bucket }));
    }
  }
  const view = bucketView(() => s3, stack.bucket);
  return {
    ...stack,
    ...view,
    s3,
    close: async () => {
      s3.destroy();
      await stack.close();
    },
  };
}
