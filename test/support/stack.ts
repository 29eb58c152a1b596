/**
 * A running local stack for integration tests: the real local server and handlers over the backend of the jest
 * project (test/support/store-view.ts): the folder store, the embedded s3rver, or the S3 endpoint in S3_ENDPOINT
 * (LocalStack), plus direct access to the store to prove what was or was not written.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3EventRecord } from 'aws-lambda';
import { type LocalStack, startLocalStack } from '../../lib/local/stack';
import type { FolderStore } from '../../lib/storage/folder-store/folder-store';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from './embedded-s3';
import { folderView, type StoreView, s3View, testBackend } from './store-view';

export interface TestStack extends LocalStack, StoreView {
  /** A client of the S3 endpoint (S3 backends only). */
  readonly s3: S3Client;
}

export type FolderStoreStack = TestStack & { readonly folderStore: FolderStore };

/** A test stack on the folder store: the suites that test the folder store itself (test/folder-store/). */
export async function startFolderStoreStack(): Promise<FolderStoreStack> {
  const stack = await startTestStack();
  if (!stack.folderStore) {
    await stack.close();
    throw new Error('This suite tests the folder store: run it in the folder-store jest project.');
  }
  return stack as FolderStoreStack;
}

export async function startTestStack(): Promise<TestStack> {
  if (process.env.DEPLOYED_API_URL) return deployedStack(process.env.DEPLOYED_API_URL);
  let s3rver: EmbeddedS3 | undefined;
  let s3rverDirectory: string | undefined;
  // LocalStack's setup sets S3_ENDPOINT; else the project's backend decides.
  if (!process.env.S3_ENDPOINT && testBackend() === 's3rver') {
    s3rverDirectory = await mkdtemp(join(tmpdir(), 'stack-s3rver-'));
    process.env.BUCKET ||= 'recodex-fileserver';
    s3rver = await startEmbeddedS3({ directory: s3rverDirectory, bucket: process.env.BUCKET });
    Object.assign(process.env, {
      S3_ENDPOINT: s3rver.endpoint,
      AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
    });
  }
  const stack = await startLocalStack({ port: 0 });
  // s3rver's object events stand in for S3 notifications, as the folder store's do.
  s3rver?.server.on('event', (event: { Records?: S3EventRecord[] }) => stack.dispatchS3Event(event));
  const folder = stack.folderStore;
  let s3: S3Client | undefined;
  if (!folder) {
    s3 = new S3Client({
      endpoint: stack.s3Endpoint,
      forcePathStyle: true,
      region: process.env.AWS_REGION ?? 'us-east-1',
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    // Against an external endpoint (LocalStack), the bucket is the test's to create.
    if (!s3rver) {
      try {
        await s3.send(new HeadBucketCommand({ Bucket: stack.bucket }));
      } catch {
        await s3.send(new CreateBucketCommand({ Bucket: stack.bucket }));
      }
    }
  }
  const client = (): S3Client => {
    if (!s3) throw new Error('This stack runs on the folder store; there is no S3 client.');
    return s3;
  };
  const view = folder
    ? folderView(() => folder)
    : s3View(client, stack.bucket, s3rverDirectory ? () => s3rverDirectory as string : undefined);
  return {
    ...stack,
    ...view,
    get s3() {
      return client();
    },
    close: async () => {
      s3?.destroy();
      await stack.close();
      await s3rver?.close();
      if (s3rverDirectory) await rm(s3rverDirectory, { recursive: true, force: true });
    },
  };
}

/**
 * Under `npm run test:deployed` (test/deployed/run.ts): the packaged functions behind the gateway stand-in, reached
 * through a client that sends the deployment's Basic credentials as ReCodEx does, over LocalStack's S3.
 */
function deployedStack(url: string): TestStack {
  const bucket = process.env.DEPLOYED_BUCKET as string;
  const s3Endpoint = process.env.DEPLOYED_S3_ENDPOINT as string;
  const s3 = new S3Client({
    endpoint: s3Endpoint,
    forcePathStyle: true,
    region: process.env.AWS_REGION,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    url,
    s3Endpoint,
    bucket,
    folderStore: undefined,
    directory: undefined,
    // The archiver runs behind S3 notifications the tier delivers itself; it says when none is pending.
    notificationsIdle: async () => {
      const answer = await fetch(`${process.env.DEPLOYED_CONTROL_URL}/idle`);
      if (answer.status !== 204) throw new Error(`the deployed tier's notifications: ${await answer.text()}`);
    },
    dispatchS3Event: () => {
      throw new Error('the deployed tier delivers S3 notifications from LocalStack itself');
    },
    ...s3View(() => s3, bucket),
    s3,
    close: async () => s3.destroy(),
  };
}
