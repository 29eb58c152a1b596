/**
 * The local stack with the fault proxy between the handlers and storage: embedded s3rver ← fault proxy ← the
 * handlers' S3 client (S3_ENDPOINT is the proxy), plus a client of our own that talks to s3rver directly, so that
 * checking what was stored never meets an injected fault. With S3_ENDPOINT set, the local stack sends no S3
 * notifications, so archives are built on their first GET (the fallback path) or by calling the archiver.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startLocalStack } from '../../../lib/local/stack';
import { bucketView } from '../../support/bucket-view';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3 } from '../../support/embedded-s3';
import { type FaultProxy, startFaultProxy } from '../../support/fault-proxy';

/** The bucket name the S3 event fixtures are moved to (test/handlers/support/s3-events.ts). */
export const FAULT_BUCKET = 'handler-tests';

export interface FaultStack {
  url: string;
  proxy: FaultProxy;
  keys(prefix?: string): Promise<string[]>;
  exists(key: string): Promise<boolean>;
  storedBytes(key: string): Promise<Buffer>;
  /** Deletes `key` behind the service's back (as a lifecycle rule would). */
  remove(key: string): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultStack(env: Record<string, string> = {}): Promise<FaultStack> {
  const directory = await mkdtemp(join(tmpdir(), 'fault-tests-'));
  const storage = await startEmbeddedS3({ directory, bucket: FAULT_BUCKET });
  const proxy = await startFaultProxy(storage.endpoint);
  Object.assign(process.env, {
    BUCKET: FAULT_BUCKET,
    S3_ENDPOINT: proxy.endpoint,
    AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    ...env,
  });
  const stack = await startLocalStack({ port: 0 });
  const direct = new S3Client({
    endpoint: storage.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: EMBEDDED_S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    url: stack.url,
    proxy,
    ...bucketView(() => direct, FAULT_BUCKET),
    async remove(key) {
      await direct.send(new DeleteObjectCommand({ Bucket: FAULT_BUCKET, Key: key }));
    },
    async close() {
      await stack.close();
      direct.destroy();
      await proxy.close();
      await storage.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
