/**
 * Requests pipelined on one keep-alive connection are processed strictly in order (RFC 9112 §9.3.2): each request's
 * effects come before the next request is processed, and the answers come in the order of the requests, the
 * server's own error answers included. Every case writes all its requests in one write to a raw socket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { freshId } from '../support/fresh-id';
import { file, multipart } from '../support/multipart';
import { exchange, type RawResponse, rawRequest } from '../support/raw-http';
import { startTestStack, type TestStack } from '../support/stack';
import { readZip } from '../support/zip';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const put = (path: string, body: Buffer): Buffer =>
  rawRequest(`PUT ${path} HTTP/1.1\r\nHost: local\r\nContent-Length: ${body.length}`, body);
const get = (path: string, last = false): Buffer =>
  rawRequest(`GET ${path} HTTP/1.1\r\nHost: local${last ? '\r\nConnection: close' : ''}`);
function post(path: string, parts: Parameters<typeof multipart>[0]): Buffer {
  const { body, contentType } = multipart(parts);
  return rawRequest(
    `POST ${path} HTTP/1.1\r\nHost: local\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}`,
    body,
  );
}

/** The requests in one write; the answers, checked to be exactly one per request and the connection closed. */
async function pipelined(...requests: Buffer[]): Promise<RawResponse[]> {
  const { responses, rest } = await exchange(stack.url, Buffer.concat(requests));
  expect(rest.length).toBe(0);
  return responses;
}

it('a result GET right after its PUT sees the PUT, on one connection', async () => {
  const path = `/results/${freshId('p')}.zip`;
  const body = randomBytes(3000);
  const [stored, read, ...more] = await pipelined(put(path, body), get(path, true));
  expect(more).toEqual([]);
  expect(stored?.status).toBe(200);
  expect(read?.status).toBe(200);
  expect(read?.body).toEqual(body);
});

it('reads and writes of one result alternate in the order sent, with bodies of 1 MiB', async () => {
  const path = `/results/${freshId('alternate')}.zip`;
  const first = randomBytes(1024 * 1024);
  const second = randomBytes(1024 * 1024);
  const answers = await pipelined(get(path), put(path, first), get(path), put(path, second), get(path, true));
  expect(answers.map((answer) => answer.status)).toEqual([404, 200, 200, 200, 200]);
  expect(answers[2]?.body.equals(first)).toBe(true);
  expect(answers[4]?.body.equals(second)).toBe(true);
  expect((await stack.storedBytes(`results/${path.split('/').pop()}`)).equals(second)).toBe(true);
});

it('an exercise file and a submission archive are there for the GET that follows their POST', async () => {
  const content = randomBytes(2000);
  const sha1 = createHash('sha1').update(content).digest('hex');
  const id = freshId('sub');
  const answers = await pipelined(
    post('/exercises', [file('data.in', content)]),
    get(`/exercises/${sha1}`),
    post(`/submissions/${id}`, [file('main.c', 'int main(void) { return 0; }\n')]),
    get(`/submission_archives/${id}.zip`, true),
  );
  expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
  expect(answers[1]?.body).toEqual(content);
  const entries = await readZip(answers[3]?.body as Buffer);
  expect(entries.map((entry) => entry.name)).toEqual([`${id}/main.c`]);
  await stack.notificationsIdle();
});

it('an answer the server gives a request it cannot parse comes after the answers before it', async () => {
  const path = `/results/${freshId('then-bad')}.zip`;
  const body = randomBytes(500);
  const answers = await pipelined(put(path, body), get(path), rawRequest('GET / HTTP/1.2\r\nHost: local'));
  expect(answers.map((answer) => answer.status)).toEqual([200, 200, 505]);
  expect(answers[1]?.body).toEqual(body);
  const refused = JSON.parse(answers[2]?.body.toString() ?? '') as { error: { code: string } };
  expect(refused.error.code).toBe('http-version-not-supported');
});
