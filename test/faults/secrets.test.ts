/**
 * No credential and no presigned URL signature ever reaches the logs (issue 8), also when things fail: the log lines
 * of a run through real HTTP with Basic credentials (right and wrong), presigned redirects, S3 faults that are
 * retried, that fail a request, that break an archive build, and reads cut short, are captured and searched.
 */
import { randomBytes } from 'node:crypto';
import { handler as archiver } from '../../functions/archiver';
import { captureLogs, type LogLine } from '../handlers/support/logs';
import { manifestEvent } from '../handlers/support/s3-events';
import { EMBEDDED_S3_CREDENTIALS } from '../support/embedded-s3';
import { file, multipart } from '../support/multipart';
import { type FaultStack, startFaultStack } from './support/fault-stack';
import { createTally } from './support/tally';

const USER = 'api-user';
const PASSWORD = 'p4ss-w0rd-that-must-not-leak';
const WRONG_PASSWORD = 'wrong-but-also-secret-9431';
const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const tally = createTally('secrets');
let stack: FaultStack;
beforeAll(async () => {
  stack = await startFaultStack({
    FILESERVER_USERNAME: USER,
    FILESERVER_PASSWORD: PASSWORD,
    // Small, so that downloads are answered with presigned URLs.
    INLINE_LIMIT_BYTES: '1024',
  });
});
afterAll(async () => {
  tally.write(stack?.proxy.stats);
  await stack?.close();
});

it('logs neither credentials nor presigned URLs, whatever happens', async () => {
  const auth = { Authorization: basic(USER, PASSWORD) };
  const signatures: string[] = [];
  const { result, lines } = await captureLogs(async () => {
    const send = (method: string, path: string, options: { body?: Buffer; headers?: Record<string, string> } = {}) =>
      tally.send(stack.url, method, path, { body: options.body, headers: { ...auth, ...options.headers } });

    // Presigned redirects for a result and for an archive.
    expect((await send('PUT', '/results/big.zip', { body: randomBytes(4096) })).status).toBe(200);
    const submission = multipart([file('main.c', randomBytes(4096).toString('hex'))]);
    const headers = { 'Content-Type': submission.contentType };
    expect((await send('POST', '/submissions/secret_sub', { body: submission.body, headers })).status).toBe(200);
    for (const path of ['/results/big.zip', '/submission_archives/secret_sub.zip']) {
      const answer = await send('GET', path);
      expect(answer.status).toBe(302);
      const location = new URL(String(answer.headers.location));
      const signature = location.searchParams.get('X-Amz-Signature');
      expect(signature).toMatch(/^[0-9a-f]{64}$/);
      signatures.push(signature ?? '');
    }

    // Wrong and malformed credentials.
    for (const authorization of [basic(USER, WRONG_PASSWORD), basic(WRONG_PASSWORD, PASSWORD), `Bearer ${PASSWORD}`]) {
      expect((await send('GET', '/results/big.zip', { headers: { Authorization: authorization } })).status).toBe(401);
    }

    // S3 faults: absorbed by retries, failing a request, cut short, and failing an archive build.
    stack.proxy.inject({ kind: '500', operation: 'PutObject', key: 'results/retried.zip' });
    expect((await send('PUT', '/results/retried.zip', { body: randomBytes(100) })).status).toBe(200);
    stack.proxy.inject({ kind: 'reset', operation: 'PutObject', key: 'results/failed.zip', times: 3 });
    expect((await send('PUT', '/results/failed.zip', { body: randomBytes(100) })).status).toBe(503);
    expect((await send('PUT', '/results/small.zip', { body: randomBytes(100) })).status).toBe(200);
    stack.proxy.inject({ kind: 'truncate', operation: 'GetObject', key: 'results/small.zip' });
    expect((await send('GET', '/results/small.zip')).status).toBeGreaterThanOrEqual(500);
    const more = multipart([file('extra.c', 'x')]);
    const moreHeaders = { 'Content-Type': more.contentType };
    expect((await send('POST', '/submissions/secret_sub', { body: more.body, headers: moreHeaders })).status).toBe(200);
    stack.proxy.inject({ kind: '503', operation: 'GetObject', key: 'submissions/secret_sub/main.c', times: 3 });
    await expect(archiver(manifestEvent('secret_sub'))).rejects.toThrow('secret_sub');
    stack.proxy.clear();
  });
  if (result.status === 'rejected') throw result.reason;

  // The run did log, failures included, so the search below is not vacuous.
  const messages = lines.map((line: LogLine) => line.message);
  expect(messages.filter((message) => message === 'request').length).toBeGreaterThanOrEqual(12);
  expect(messages).toEqual(expect.arrayContaining(['request failed', 'archiver: build failed']));
  expect(lines.some((line) => JSON.stringify(line).includes('StorageUnavailableError'))).toBe(true);

  const text = lines.map((line) => JSON.stringify(line)).join('\n');
  const secrets = [
    PASSWORD,
    WRONG_PASSWORD,
    Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
    Buffer.from(`${USER}:${WRONG_PASSWORD}`).toString('base64'),
    EMBEDDED_S3_CREDENTIALS.secretAccessKey,
    ...signatures,
    'X-Amz-Signature',
    'X-Amz-Credential',
    'Authorization',
  ];
  for (const secret of secrets) {
    expect({ secret, found: text.toLowerCase().includes(secret.toLowerCase()) }).toEqual({ secret, found: false });
  }
});
