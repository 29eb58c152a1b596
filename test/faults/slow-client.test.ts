/**
 * A client that declares more body than it sends and then holds the connection open (issue 8, "a Content-Length
 * that lies"). The local server (lib/local/server.ts) must not wait for it forever: after its request timeout Node
 * answers 408 and closes, the handler never runs, and nothing is stored. Here the server is built with a 0.5 s timeout
 * so the test is quick; `npm start` uses REQUEST_TIMEOUT_MS. In AWS, API Gateway deals with such clients itself.
 */
import type { Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { join } from 'node:path';
import { httpHandlers } from '../../functions/index';
import { loadRoutes } from '../../lib/local/routes';
import { createLocalServer, REQUEST_TIMEOUT_MS } from '../../lib/local/server';
import { useTestStore } from '../handlers/support/store';
import { file, multipart } from '../support/multipart';
import { createTally } from './support/tally';

const bucket = useTestStore();
const tally = createTally('slow-client');
const routes = loadRoutes(join(__dirname, '../../serverless.yml'));

let server: Server;
beforeAll(async () => {
  server = createLocalServer({ routes, handlers: httpHandlers, requestTimeoutMs: 500 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  tally.write();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Sends `text` and keeps the connection open; resolves with what came back once the server closed it. */
function sendAndHold(text: string): Promise<string> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.write(text);
  });
}

it('the default server gives a client a bounded time to send its request', () => {
  const defaults = createLocalServer({ routes, handlers: httpHandlers });
  expect(defaults.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
  expect(REQUEST_TIMEOUT_MS).toBeLessThanOrEqual(60_000);
  expect(defaults.headersTimeout).toBeLessThanOrEqual(REQUEST_TIMEOUT_MS);
});

it.each([
  ['a body shorter than its Content-Length', 'POST', '/submissions/held_post', 'multipart'],
  ['a result PUT shorter than its Content-Length', 'PUT', '/results/held.zip', 'raw'],
  ['headers that never end', 'GET', '/results/held.zip', 'no-end'],
])('%s, then silence: 408 and the connection closed, nothing stored', async (label, method, path, kind) => {
  const { body, contentType } = multipart([file('main.c', 'int main(void) { return 0; }\n')]);
  const head = `${method} ${path} HTTP/1.1\r\nHost: local\r\nContent-Type: ${contentType}\r\n`;
  const text =
    kind === 'no-end'
      ? `${head}X-Slow: 1\r\n`
      : `${head}Content-Length: ${body.length + 100}\r\n\r\n${body.toString('latin1')}`;
  const answer = await sendAndHold(text);
  const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
  tally.sentRaw(status === undefined ? [] : [Number(status)]);
  tally.badInput(`${label}, then silence`, `${status} (connection closed)`);
  expect(status).toBe('408');
  expect(await bucket.keys()).toEqual([]);
});
