/**
 * The local server speaks HTTP/1.0 and HTTP/1.1. A request line of any other version is answered 505 HTTP Version
 * Not Supported (RFC 9110 §15.6.6) with a JSON body, the connection closed, and nothing done; Node parses HTTP/0.9
 * and HTTP/2.0 lines, and refuses other well-formed versions itself. A version that is not `HTTP/<digit>.<digit>`
 * (RFC 9112 §2.3) is a malformed request: 400. Raw sockets, so the request line goes on the wire as written.
 */
import { exchange, type RawResponse, rawRequest } from '../support/raw-http';
import { startTestStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** The one answer to `bytes`, after which the server closed the connection. */
async function only(bytes: Buffer): Promise<RawResponse & { code: string | undefined }> {
  const { responses, rest } = await exchange(stack.url, bytes);
  expect({ responses: responses.length, rest: rest.toString('latin1') }).toEqual({ responses: 1, rest: '' });
  const answer = responses[0] as RawResponse;
  const json = answer.headers['content-type'] === 'application/json' ? JSON.parse(answer.body.toString()) : undefined;
  return { ...answer, code: (json as { error?: { code?: string } } | undefined)?.error?.code };
}

it('answers 505 to every version but 1.0 and 1.1, on every route and the store, and stores nothing', async () => {
  const name = `v_${process.pid}_${Date.now()}.zip`;
  const cases: [string, Buffer][] = [
    ['HTTP/0.9 request line', rawRequest('GET / HTTP/0.9\r\nHost: local')],
    ['HTTP/0.9 simple request', Buffer.from('GET /\r\n\r\n')],
    ['HTTP/2.0', rawRequest('GET / HTTP/2.0\r\nHost: local')],
    ['HTTP/2.0 PUT', rawRequest(`PUT /results/${name} HTTP/2.0\r\nHost: local\r\nContent-Length: 5`, 'hello')],
    ['HTTP/2.0 to the store', rawRequest(`GET /${stack.bucket}/results/${name} HTTP/2.0\r\nHost: local`)],
    ['HTTP/1.2', rawRequest('GET / HTTP/1.2\r\nHost: local')],
    ['HTTP/3.0', rawRequest('GET / HTTP/3.0\r\nHost: local')],
    ['HTTP/9.9 PUT', rawRequest(`PUT /results/${name} HTTP/9.9\r\nHost: local\r\nContent-Length: 5`, 'hello')],
    ['the HTTP/2 connection preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
  ];
  const seen = [];
  for (const [label, bytes] of cases) {
    const { status, code } = await only(bytes);
    seen.push({ label, status, code });
  }
  expect(seen).toEqual(cases.map(([label]) => ({ label, status: 505, code: 'http-version-not-supported' })));
  expect(await stack.exists(`results/${name}`)).toBe(false);
});

it('serves HTTP/1.0 and HTTP/1.1, and answers a malformed version 400', async () => {
  const seen = [];
  for (const version of ['HTTP/1.0', 'HTTP/1.1', 'HTTP/1.10', 'HTTP/2', 'HTTP/1.1x']) {
    const { status, code } = await only(rawRequest(`GET / ${version}\r\nHost: local\r\nConnection: close`));
    seen.push({ version, status, code });
  }
  expect(seen).toEqual([
    { version: 'HTTP/1.0', status: 200, code: undefined },
    { version: 'HTTP/1.1', status: 200, code: undefined },
    { version: 'HTTP/1.10', status: 400, code: 'bad-request' },
    { version: 'HTTP/2', status: 400, code: 'bad-request' },
    { version: 'HTTP/1.1x', status: 400, code: 'bad-request' },
  ]);
});
