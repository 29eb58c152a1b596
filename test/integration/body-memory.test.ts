/**
 * What request bodies may hold of the local server's memory (lib/local/server.ts, lib/local/body-budget.ts). A client
 * without credentials is refused from its headers, with the handler's own check: 401, the connection closed, and its
 * body never read, however many such clients send at once. Clients with credentials share a bound of bodies in
 * flight; past it a request gets 503 with Retry-After, and nothing of it is stored. Raw sockets, so the tests can
 * send part of a body and hold it, and see how much of it the server took off the wire.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { httpHandlers } from '../../functions/index';
import { authenticate } from '../../lib/http/auth';
import { loadRoutes } from '../../lib/local/routes';
import { createLocalServer } from '../../lib/local/server';
import { useTestStore } from '../handlers/support/store';
import { parseResponses, type RawResponse } from '../support/raw-http';

const USER = 'worker';
const PASSWORD = 'body-memory-secret';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
const bucket = useTestStore({ FILESERVER_USERNAME: USER, FILESERVER_PASSWORD: PASSWORD });
const routes = loadRoutes(join(__dirname, '../../serverless.yml'));

const KiB = 1024;
const MiB = 1024 * KiB;
/** The bound of the server under test: small, so that two bodies reach it. */
const BOUND = MiB;

let server: Server;
/** Bytes each connection's server side read off the wire, by the client's port, once it closed. */
const readByServer = new Map<number, number>();
beforeAll(async () => {
  // A short request timeout: on a server that waited for a held body, the test would end in 408s, not hang.
  server = createLocalServer({
    routes,
    handlers: httpHandlers,
    authenticate, // as npm start's stack passes it (lib/local/stack.ts)
    requestTimeoutMs: 5_000,
    maxBodyBytesInFlight: BOUND,
  });
  server.on('connection', (socket: Socket) => {
    const port = socket.remotePort as number;
    socket.on('close', () => readByServer.set(port, socket.bytesRead));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Client {
  /** The client's own port: the server's socket of this connection has it as its remote port. */
  port: number;
  /** Writes `bytes`, waiting for the socket to drain; stops early once the connection has ended. */
  write(bytes: Buffer): Promise<void>;
  /** Writes `count` filler bytes, 64 KiB at a time. */
  fill(count: number): Promise<void>;
  /** The answers so far, once one of them has a status `wanted` takes (or the connection has closed). */
  until(wanted: (status: number) => boolean): Promise<RawResponse[]>;
  /** Every answer, once the server has closed the connection. */
  closed: Promise<RawResponse[]>;
  end(): void;
}

const FILLER = Buffer.alloc(64 * KiB, 'x');

/** A connection that has sent `head` and the blank line, and sends its body only when told. */
async function open(head: string): Promise<Client> {
  const { port } = server.address() as AddressInfo;
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  const answers = (): RawResponse[] => parseResponses(Buffer.concat(chunks)).responses;
  const waiting = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    for (const wake of waiting) wake();
  });
  socket.on('error', () => undefined); // writing to a connection the server closed
  const closed = new Promise<RawResponse[]>((resolve) => socket.on('close', () => resolve(answers())));
  socket.write(`${head}\r\n\r\n`);
  const write = async (bytes: Buffer): Promise<void> => {
    if (!socket.writable || socket.write(bytes)) return;
    await new Promise<void>((resolve) => {
      socket.once('drain', resolve);
      socket.once('close', resolve);
    });
  };
  return {
    port: socket.localPort as number,
    write,
    async fill(count) {
      for (let left = count; left > 0 && socket.writable; left -= FILLER.length) {
        await write(left >= FILLER.length ? FILLER : FILLER.subarray(0, left));
      }
    },
    until: (wanted) =>
      new Promise((resolve) => {
        const check = (): void => {
          if (answers().some((answer) => wanted(answer.status))) {
            waiting.delete(check);
            resolve(answers());
          }
        };
        waiting.add(check);
        check();
        void closed.then(resolve);
      }),
    closed,
    end: () => socket.end(),
  };
}

/** The `error.code` of a JSON error answer; `undefined` for any other answer. */
function errorCode(answer: RawResponse | undefined): unknown {
  if (answer?.headers['content-type'] !== 'application/json') return undefined;
  return (JSON.parse(answer.body.toString()) as { error?: { code?: string } }).error?.code;
}

it('refuses 40 clients without credentials that each send 4.6 MB but the last byte at once: 401 from their headers, the bodies not read, the connections closed', async () => {
  const size = 4_600_000; // below the 4.5 MiB a body may have through Lambda, so only the credentials refuse it
  const clients = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      open(`PUT /results/held_${i}.zip HTTP/1.1\r\nHost: local\r\nContent-Length: ${size}`),
    ),
  );
  // The worker's way, Expect: 100-continue, is refused before it sends anything.
  const expecting = await open(
    `PUT /results/expecting.zip HTTP/1.1\r\nHost: local\r\nContent-Length: ${size}\r\nExpect: 100-continue`,
  );
  await Promise.all(clients.map((client) => client.fill(size - 1)));
  const answers = await Promise.all([...clients, expecting].map((client) => client.closed));
  const seen = answers.map((responses) => ({
    statuses: responses.map((answer) => answer.status),
    code: errorCode(responses[0]),
    challenge: responses[0]?.headers['www-authenticate'],
    connection: responses[0]?.headers.connection,
  }));
  const refused = {
    statuses: [401],
    code: 'unauthorized',
    challenge: 'Basic realm="ReCodEx fileserver"',
    connection: 'close',
  };
  expect(seen).toEqual(answers.map(() => refused));
  // What the server took off the wire: the headers and what Node reads ahead before the answer, never the body.
  const read = clients.map((client) => readByServer.get(client.port) ?? Number.NaN);
  expect(read.filter((bytes) => !(bytes < MiB))).toEqual([]);
  expect(await bucket.keys()).toEqual([]);
});

it('keeps the bodies in flight within the bound: past it 503 with Retry-After, from the headers or from a chunk, and nothing stored', async () => {
  const body = randomBytes(700 * KiB);
  const put = (name: string, headers: string): string =>
    `PUT /results/${name} HTTP/1.1\r\nHost: local\r\nAuthorization: ${AUTH}\r\n${headers}`;
  // Expect: 100-continue: the server asks for the body once it has counted it, so from then on it holds 700 KiB.
  const holder = await open(put('holder.zip', `Content-Length: ${body.length}\r\nExpect: 100-continue`));
  expect((await holder.until((status) => status === 100)).map((answer) => answer.status)).toEqual([100]);
  // 700 KiB more, declared, would pass the 1 MiB bound: refused before the body is asked for.
  const declared = await open(put('declared.zip', `Content-Length: ${body.length}\r\nExpect: 100-continue`));
  const declaredAnswers = await declared.closed;
  // A chunked body is counted as it arrives: refused at the chunk that passes the bound.
  const chunked = await open(put('chunked.zip', 'Transfer-Encoding: chunked'));
  const piece = randomBytes(400 * KiB);
  await chunked.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
  const chunkedAnswers = await chunked.closed;
  // Clients without credentials do not count against the bound: they get their 401, not a 503.
  const stranger = await open(`PUT /results/stranger.zip HTTP/1.1\r\nHost: local\r\nContent-Length: ${body.length}`);
  const strangerAnswers = await stranger.closed;
  const busy = (responses: RawResponse[]) => ({
    statuses: responses.map((answer) => answer.status),
    code: errorCode(responses[0]),
    retryAfter: responses[0]?.headers['retry-after'],
    namesTheBound: (responses[0]?.body.toString() ?? '').includes('1 MiB'),
  });
  const refused = { statuses: [503], code: 'server-busy', retryAfter: '1', namesTheBound: true };
  expect(busy(declaredAnswers)).toEqual(refused);
  expect(busy(chunkedAnswers)).toEqual(refused);
  expect(strangerAnswers.map((answer) => answer.status)).toEqual([401]);
  // The holder finishes: its claim is given back, and the refused request, sent again, is taken.
  await holder.write(body);
  expect((await holder.until((status) => status >= 200)).map((answer) => answer.status)).toEqual([100, 200]);
  holder.end();
  const again = await open(put('declared.zip', `Content-Length: ${body.length}\r\nConnection: close`));
  await again.write(body);
  expect((await again.closed).map((answer) => answer.status)).toEqual([200]);
  expect((await bucket.storedBytes('results/holder.zip')).equals(body)).toBe(true);
  expect((await bucket.storedBytes('results/declared.zip')).equals(body)).toBe(true);
  expect(await bucket.exists('results/chunked.zip')).toBe(false);
  expect(await bucket.exists('results/stranger.zip')).toBe(false);
});
