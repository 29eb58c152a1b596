/**
 * A bucket that is not there (BUCKET names one the S3 endpoint does not have, as LocalStack without the fileserver's
 * init hook): every route answers 503 `bucket-missing` naming the bucket, not a 500 `internal`, and nothing is lost
 * once the operator creates it (docs/protocol.md, "Error codes"). On s3rver, which answers NoSuchBucket as S3 does.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { type LocalStack, startLocalStack } from '../../lib/local/stack';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from '../support/embedded-s3';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';

const MISSING = 'not-created-yet';
let directory: string;
let s3rver: EmbeddedS3;
let stack: LocalStack;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'bucket-missing-'));
  s3rver = await startEmbeddedS3({ directory, bucket: 'another-bucket' });
  Object.assign(process.env, {
    S3_ENDPOINT: s3rver.endpoint,
    BUCKET: MISSING,
    AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
  });
  stack = await startLocalStack({ port: 0 });
});

afterAll(async () => {
  await stack?.close();
  await s3rver?.close();
  await rm(directory, { recursive: true, force: true });
});

function postSubmission(id: string) {
  const { body, contentType } = multipart([file('main.c', 'int main;'), file('job-config.yml', 'c')]);
  return send(stack.url, 'POST', `/submissions/${id}`, { body, headers: { 'Content-Type': contentType } });
}

function expectBucketMissing(answer: Awaited<ReturnType<typeof send>>): void {
  expect(answer.status).toBe(503);
  expect(answer.headers['retry-after']).toBe('1');
  expect(answer.json()).toEqual({
    result: 'ERROR',
    error: { code: 'bucket-missing', message: expect.stringContaining(`bucket ${MISSING} does not exist`) },
  });
}

it('a submission POST answers 503 bucket-missing naming the bucket', async () => {
  expectBucketMissing(await postSubmission('student_1'));
});

it('a result PUT and an archive GET answer 503 bucket-missing too, not 404 or 500', async () => {
  expectBucketMissing(await send(stack.url, 'PUT', '/results/student_1.zip', { body: 'zip' }));
  expectBucketMissing(await send(stack.url, 'GET', '/submission_archives/student_1.zip'));
});

it('once the bucket is created, the same POST succeeds', async () => {
  const s3 = new S3Client({
    endpoint: s3rver.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: EMBEDDED_S3_CREDENTIALS,
  });
  await s3.send(new CreateBucketCommand({ Bucket: MISSING }));
  s3.destroy();
  expect((await postSubmission('student_1')).status).toBe(200);
  expect((await send(stack.url, 'GET', '/submission_archives/student_1.zip')).status).toBe(200);
});
