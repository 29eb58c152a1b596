/**
 * Storage that does not answer: the handlers still answer (no exception, so no 502 from API Gateway), with a JSON
 * error that does not leak internals, and the status page says 503 for health checks (docs/protocol.md §2, §5).
 */
import { createServer } from 'node:net';
import { handler as archives } from '../../functions/archives';
import { handler as results } from '../../functions/results';
import { handler as status } from '../../functions/status';
import { handler as submissions } from '../../functions/submissions';
import { invoke, jsonBody, loadEvent } from './support/events';

let endpoint = '';

beforeAll(async () => {
  // A port that was just free: nothing listens there, so every connection is refused at once.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  endpoint = `http://127.0.0.1:${address.port}`;
  Object.assign(process.env, {
    BUCKET: 'handler-tests',
    S3_ENDPOINT: endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
  });
});

it('the status page answers 503 with storage unreachable', async () => {
  const answer = await invoke(status, loadEvent('status-get'));
  expect(answer.statusCode).toBe(503);
  // As every other 503 (RFC 9110 §10.2.3): health checks and clients know when to ask again.
  expect(answer.headers?.['Retry-After']).toBe('1');
  expect(jsonBody(answer)).toMatchObject({ storage: { bucket: 'handler-tests', reachable: false } });
});

it.each([
  ['a result GET', results, loadEvent('worker-result-put', { method: 'GET', body: null })],
  ['a result PUT', results, loadEvent('worker-result-put')],
  ['a submission POST', submissions, loadEvent('api-submission-post')],
  ['an archive GET', archives, loadEvent('worker-archive-get')],
])('%s answers a generic JSON 5xx error', async (_label, handler, event) => {
  const answer = await invoke(handler, event);
  expect(answer.statusCode).toBeGreaterThanOrEqual(500);
  expect(jsonBody(answer)).toEqual({
    result: 'ERROR',
    error: { code: expect.any(String), message: expect.any(String) },
  });
  expect(answer.body).not.toContain(new URL(endpoint).port);
  expect(answer.body).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack/i);
});
