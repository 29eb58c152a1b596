/** Helpers of the archiver handler tests: store a submission through lib, read an object's bytes back. */
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { storeSubmission } from '../../../lib/submissions';
import { file, multipart } from '../../support/multipart';
import { BUCKET, type TestBucket } from './s3';

export async function submit(id: string, files: Record<string, string | Buffer>): Promise<void> {
  const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
  await storeSubmission(id, contentType, body);
}

export async function storedBytes(bucket: TestBucket, key: string): Promise<Buffer> {
  const answer = await bucket.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from((await answer.Body?.transformToByteArray()) ?? []);
}
