/**
 * What only the deployed wiring shows (run by `npm run test:deployed`, test/deployed/run.ts): the credentials come
 * from the SSM SecureString through the packaged code, the archiver runs from the bucket's notification alone, a
 * large file travels through a redirect to S3, and a build that keeps failing ends in the on-failure queue with a
 * log line that names the error's class and TypeScript source line.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';
import { askUpload, followRedirect, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';

const gateway = process.env.DEPLOYED_GATEWAY_URL as string;
const failureQueueUrl = process.env.DEPLOYED_FAILURE_QUEUE_URL as string;
const logDir = process.env.DEPLOYED_LOG_DIR as string;

let stack: TestStack;
beforeAll(async () => {
  if (!gateway) throw new Error('run by npm run test:deployed (test/deployed/run.ts), which starts the stack');
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const freshId = (prefix: string): string => `${prefix}_${Date.now()}_${randomBytes(3).toString('hex')}`;

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

it('answers 401 without the credentials the packaged code read from the SSM SecureString, 200 with them', async () => {
  const without = await send(gateway, 'GET', '/');
  expect(without.status).toBe(401);
  expect(without.headers['www-authenticate']).toBe('Basic realm="ReCodEx fileserver"');
  const wrong = await send(gateway, 'GET', '/', { headers: { Authorization: `Basic ${btoa('re:codex')}` } });
  expect(wrong.status).toBe(401);
  expect((await send(stack.url, 'GET', '/')).status).toBe(200);
});

it("answers an unknown route with the template's gateway response, without a function", async () => {
  const answer = await send(gateway, 'GET', '/no/such/route');
  expect(answer.status).toBe(404);
  expect(answer.json()).toMatchObject({ result: 'ERROR', error: { code: 'no-such-route' } });
});

it('builds the archive of a posted submission from the S3 notification alone, with no GET', async () => {
  const id = freshId('deployed');
  const { body, contentType } = multipart([
    file('main.c', 'int main(void) { return 0; }\n'),
    file('job-config.yml', 'x'),
  ]);
  const posted = await send(stack.url, 'POST', `/submissions/${id}`, {
    body,
    headers: { 'Content-Type': contentType },
  });
  expect(posted.status).toBe(200);
  const key = `submission_archives/${id}.zip`;
  await eventually('the archive', async () => ((await stack.exists(key)) ? true : undefined));
  const entries = await readZip(await stack.storedBytes(key));
  expect(entries.map((e) => e.name)).toEqual([`${id}/job-config.yml`, `${id}/main.c`]);
});

it('rebuilds an expired archive on the GET, from the stored files and the revision a re-POST wrote', async () => {
  const id = freshId('expired');
  for (const parts of [[file('main.c', 'v1'), file('job-config.yml', 'c')], [file('main.c', 'v2')]]) {
    const { body, contentType } = multipart(parts);
    const posted = await send(stack.url, 'POST', `/submissions/${id}`, {
      body,
      headers: { 'Content-Type': contentType },
    });
    expect(posted.status).toBe(200);
  }
  const key = `submission_archives/${id}.zip`;
  await stack.notificationsIdle(); // the archiver has seen both manifests, and will not write the archive again
  expect(await stack.exists(key)).toBe(true);
  // What the lifecycle rule does after archiveExpirationDays: the archive goes, the submission stays.
  await stack.s3.send(new DeleteObjectCommand({ Bucket: stack.bucket, Key: key }));
  const answer = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
  expect(answer.status).toBe(200);
  expect((await readZip(answer.body)).map((e) => [e.name, e.data.toString()])).toEqual([
    [`${id}/job-config.yml`, 'c'],
    [`${id}/main.c`, 'v2'],
  ]);
  expect(await stack.exists(key)).toBe(true);
});

it('passes a large result through the large-upload route and the download redirect, byte-exact', async () => {
  const name = `${freshId('large')}.zip`;
  const bytes = randomBytes(5 * 1024 * 1024 + 1);
  const granted = await askUpload(stack.url, `results/${name}`, { size: bytes.length });
  expect(granted.status).toBe(200);
  const { upload } = granted.json<{ upload: UploadGrant }>();
  expect((await putToPresignedUrl(upload, bytes)).status).toBe(200);
  const answer = await send(stack.url, 'GET', `/results/${name}`);
  // The presigned URL names the function's S3 endpoint (its recording proxy in front of LocalStack).
  const fetched = await followRedirect(answer, new URL(String(answer.headers.location)).origin);
  expect(fetched.status).toBe(200);
  expect(sha256(fetched.body)).toBe(sha256(bytes));
});

it('sends a build that fails every attempt to the failure queue, and logs the error by class and source line', async () => {
  // A manifest naming a file that is not there, written behind the service's back: every build attempt fails.
  const id = freshId('broken');
  const manifest = { version: 1, id, files: [{ path: 'gone.c', size: 3, etag: '"0123456789abcdef0123456789abcdef"' }] };
  await stack.s3.send(
    new PutObjectCommand({ Bucket: stack.bucket, Key: `manifests/${id}.json`, Body: JSON.stringify(manifest) }),
  );
  const sqs = new SQSClient({ endpoint: process.env.DEPLOYED_S3_ENDPOINT, region: process.env.AWS_REGION });
  try {
    const record = await eventually('the failure record', async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: failureQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      return Messages.map((m) => JSON.parse(m.Body ?? '{}')).find((r) =>
        JSON.stringify(r.requestPayload).includes(`manifests/${id}.json`),
      );
    });
    expect(record.requestContext).toMatchObject({ condition: 'RetriesExhausted', approximateInvokeCount: 3 });
    expect(await stack.exists(`submission_archives/${id}.zip`)).toBe(false);
  } finally {
    sqs.destroy();
  }
  // keepNames and --enable-source-maps: the archiver's log names the error class and a TypeScript frame.
  const log = await readFile(join(logDir, 'ArchiverLambdaFunction.log'), 'utf8');
  const line = log.split('\n').find((l) => l.includes(id) && l.includes('"stack"'));
  expect(line).toBeDefined();
  const logged = JSON.parse((line as string).slice((line as string).indexOf('{'))) as { error: string; stack: string };
  expect(logged.error).toMatch(/^[A-Z][A-Za-z]+$/);
  expect(logged.error.length).toBeGreaterThan(3);
  expect(logged.stack).toMatch(/\/tasks\/ArchiverLambdaFunction\/lib\/[\w/-]+\.ts:\d+:\d+\)/);
  expect(await readdir(logDir)).toContain('ArchiverLambdaFunction.log');
});

/** The JSON lines of a function's log (as CloudWatch Logs would hold them: one event per line). */
async function logLines(logicalId: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(logDir, `${logicalId}.log`), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

it("follows a failing request through its function's log by the request id the gateway answered", async () => {
  // A manifest naming a file that is not there: the archive GET builds on demand, and the build fails.
  const id = freshId('failing');
  const manifest = { version: 1, id, files: [{ path: 'gone.c', size: 3, etag: '"0123456789abcdef0123456789abcdef"' }] };
  await stack.s3.send(
    new PutObjectCommand({ Bucket: stack.bucket, Key: `manifests/${id}.json`, Body: JSON.stringify(manifest) }),
  );
  const answer = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
  expect(answer.status).toBe(500);
  const requestId = answer.headers['x-amzn-requestid'];
  expect(requestId).toEqual(expect.any(String));
  const lines = (await logLines('ArchivesLambdaFunction')).filter((line) => line.apiRequestId === requestId);
  expect(lines.map((line) => line.message)).toEqual(['request failed', 'request']);
  const [failed, summary] = lines as [Record<string, unknown>, Record<string, unknown>];
  for (const line of lines) {
    expect(line).toMatchObject({
      apiRequestId: requestId,
      lambdaRequestId: failed.lambdaRequestId,
      function: expect.stringMatching(/^recodex-fileserver-[a-z]+-archives$/),
      coldStart: expect.any(Boolean),
      Route: 'submission_archives',
      method: 'GET',
    });
  }
  expect(failed.lambdaRequestId).toEqual(expect.any(String));
  expect(failed.errorMessage).toContain('gone.c');
  expect(summary).toMatchObject({ status: 500, StatusClass: '5xx', Requests: 1, _aws: expect.any(Object) });
  // No other line of the function carries one id without the other.
  const all = await logLines('ArchivesLambdaFunction');
  expect(all.filter((line) => line.lambdaRequestId === failed.lambdaRequestId)).toEqual(lines);
});

describe('the large-upload route, for every target (each grant of the uploads role in use)', () => {
  const ask = async <T>(target: string, body: unknown): Promise<T> => {
    const answer = await askUpload(stack.url, target, body);
    expect(answer.status).toBe(200);
    return answer.json<T>();
  };

  it('exercise files and attachments: grant → PUT → GET byte-exact, and a stored exercise file needs no URL', async () => {
    const exercise = randomBytes(2000);
    const sha1 = createHash('sha1').update(exercise).digest('hex');
    const { upload } = await ask<{ upload: UploadGrant }>(`exercises/${sha1}`, { size: exercise.length });
    expect((await putToPresignedUrl(upload, exercise)).status).toBe(200);
    expect(await ask(`exercises/${sha1}`, { size: exercise.length })).toMatchObject({ stored: true });
    expect((await send(stack.url, 'GET', `/exercises/${sha1}`)).body.equals(exercise)).toBe(true);

    const attachment = randomBytes(3000);
    const id = freshId('attachment');
    const granted = await ask<{ upload: UploadGrant }>(`attachments/${id}`, { size: attachment.length });
    expect((await putToPresignedUrl(granted.upload, attachment)).status).toBe(200);
    expect((await send(stack.url, 'GET', `/attachments/${id}`)).body.equals(attachment)).toBe(true);
  });

  it('a submission: grant → PUT every file → complete, then a second round replaces a file', async () => {
    const id = freshId('large_submission');
    const round = async (contents: Record<string, Buffer>) => {
      const files = Object.fromEntries(Object.entries(contents).map(([path, data]) => [path, data.length]));
      const grant = await ask<{ upload_id: string; files: Record<string, UploadGrant> }>(`submissions/${id}`, {
        files,
      });
      for (const [path, data] of Object.entries(contents)) {
        expect((await putToPresignedUrl(grant.files[path] as UploadGrant, data)).status).toBe(200);
      }
      const complete = await ask(`submissions/${id}/complete`, { upload_id: grant.upload_id, files });
      expect(complete).toEqual({ archive_path: `/submission_archives/${id}.zip`, result_path: `/results/${id}.zip` });
    };
    await round({ 'main.c': Buffer.from('v1'), 'job-config.yml': Buffer.from('c') });
    await round({ 'main.c': Buffer.from('v2') });
    const archive = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    expect(archive.status).toBe(200);
    const entries = await readZip(archive.body);
    expect(entries.map((e) => [e.name, e.data.toString()])).toEqual([
      [`${id}/job-config.yml`, 'c'],
      [`${id}/main.c`, 'v2'],
    ]);
  });
});
