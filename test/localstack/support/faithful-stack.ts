import { startTestStack, type TestStack } from '../../support/stack';

/**
 * The stack of a suite that needs S3's own rules (conditional writes, multipart ETags, versioning), as LocalStack
 * enforces them and neither s3rver nor the folder store does. Without S3_ENDPOINT (the suite run by another jest
 * configuration than `npm run test:localstack`'s) it fails rather than test something else.
 */
export async function startFaithfulStack(): Promise<TestStack> {
  if (!process.env.S3_ENDPOINT) {
    throw new Error(
      'These tests need a faithful S3: set S3_ENDPOINT (LocalStack) and a bucket of their own in BUCKET.',
    );
  }
  return startTestStack();
}
