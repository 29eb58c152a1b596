/**
 * The server of `npm start`: the local stack (lib/local/stack.ts) with the start checks, so that a bad setting or a
 * missing bucket fails the start instead of every request.
 */
import { loadConfig } from '../config';
import { BucketMissingError } from '../errors';
import { checkBucket } from '../storage/s3/s3-store';
import { type LocalStack, startLocalStack } from './stack';

export interface ServeOptions {
  host: string;
  port: number;
  directory: string | undefined;
  fsync: boolean;
}

/** Starts the stack and checks what would otherwise fail the first request; a failed check closes it again. */
export async function serve(options: ServeOptions): Promise<LocalStack> {
  const stack = await startLocalStack({
    host: options.host,
    port: options.port,
    directory: options.directory,
    fsync: options.fsync,
  });
  try {
    loadConfig(); // fail now, not at the first request, on a bad setting
    // …and on a bucket that is not there, which would otherwise fail every request with 503 bucket-missing.
    if (!stack.folderStore) await checkBucket().catch((err: unknown) => failOnMissingBucket(err, stack.s3Endpoint));
  } catch (err) {
    await stack.close();
    throw err;
  }
  return stack;
}

function failOnMissingBucket(err: unknown, endpoint: string): never {
  if (!(err instanceof BucketMissingError)) throw err;
  throw new Error(
    `BUCKET ${err.bucket} does not exist at S3_ENDPOINT ${endpoint}. Create it first: ` +
      '`npm run localstack:host -- start` creates recodex-fileserver on LocalStack; on another endpoint, ' +
      `\`aws --endpoint-url ${endpoint} s3 mb s3://${err.bucket}\` (or set BUCKET to a bucket that exists).`,
  );
}
