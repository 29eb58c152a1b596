/**
 * A running local stack for integration tests: the real local server and handlers over a real S3-compatible
 * server (the embedded s3rver, or the one in S3_ENDPOINT), plus direct access to the bucket to prove what was
 * or was not written.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { type LocalStack, startLocalStack } from '../../lib/local/stack';

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
  const keys = async (): Promise<string[]> => {
    const all: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: stack.bucket, ContinuationToken: token }));
      for (const object of page.Contents ?? []) if (object.Key) all.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return all.sort();
  };
  const exists = async (key: string): Promise<boolean> => {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }));
      return true;
    } catch (err) {
      if ((err as { name?: string }).name === 'NotFound') return false;
      throw err;
    }
  };
  const storedBytes = async (key: string): Promise<Buffer> => {
    const answer = await s3.send(new GetObjectCommand({ Bucket: stack.bucket, Key: key }));
    return Buffer.from((await answer.Body?.transformToByteArray()) ?? []);
  };
  return {
    ...stack,
    keys,
    exists,
    storedBytes,
    s3,
    close: async () => {
      s3.destroy();
      await stack.close();
    },
  };
}
