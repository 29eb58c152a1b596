/**
 * The bench's load runner (bench/load.ts) against a server that closes every connection after its answer
 * (`Connection: close`, as gunicorn's sync workers do) and, for comparison, one that keeps them alive. Each answer
 * names the request it answers, so a runner that credits answers to the wrong request (autocannon 9 does, against
 * a closing server; bench/autocannon-close.ts) fails here. No timings are asserted: the bench's self-check
 * (`npm run bench -- --self-check`) shows the latencies.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type autocannon from 'autocannon';
import { runLoad } from '../../bench/load';

interface CountingServer {
  url: string;
  /** Requests the server answered. */
  answered(): number;
  /** TCP connections it accepted. */
  connections(): number;
  close(): Promise<void>;
}

/** Answers every request with its own path as the body; `closeEach` closes the connection after each answer. */
async function startServer(closeEach: boolean): Promise<CountingServer> {
  let answered = 0;
  let connections = 0;
  const server: Server = createServer((req, res) => {
    answered++;
    const body = Buffer.from(req.url ?? '');
    res.writeHead(200, {
      'Content-Type': 'text/plain',
      'Content-Length': body.length,
      ...(closeEach ? { Connection: 'close' } : {}),
    });
    res.end(body);
  });
  server.on('connection', () => {
    connections++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    answered: () => answered,
    connections: () => connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const CONNECTIONS = 4;

/** A cycle of three different requests; every answer must be the one for its own request. */
function cycle(mismatches: string[]): autocannon.Request[] {
  return ['/first', '/second', '/third'].map((path) => ({
    method: 'GET',
    path,
    onResponse: (status: number, body: string) => {
      if (status !== 200 || body !== path) mismatches.push(`${path} got ${status} ${body}`);
    },
  }));
}

describe.each([
  ['closes every connection', true],
  ['keeps connections alive', false],
])('the load runner against a server that %s', (_name, closeEach) => {
  let server: CountingServer;
  beforeAll(async () => {
    server = await startServer(closeEach);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('credits every answer to its own request, loses none, and counts no errors', async () => {
    const mismatches: string[] = [];
    const figures = await runLoad(
      { url: server.url, authorization: undefined },
      { name: 'self-check', requests: cycle(mismatches), sentBytesPerRequest: 0 },
      { connections: CONNECTIONS, durationSeconds: 1 },
    );
    expect(mismatches).toEqual([]);
    expect({ errors: figures.errors, timeouts: figures.timeouts, non2xx: figures.non2xx }).toEqual({
      errors: 0,
      timeouts: 0,
      non2xx: 0,
    });
    expect(figures.requests).toBeGreaterThan(CONNECTIONS * 3);
    // The run stops with at most one request in flight per connection, which the server may still answer.
    expect(server.answered()).toBeGreaterThanOrEqual(figures.requests);
    expect(server.answered()).toBeLessThanOrEqual(figures.requests + CONNECTIONS);
    if (closeEach) {
      // One connection per request: none was sent on a connection the server was closing.
      expect(server.connections()).toBeGreaterThanOrEqual(server.answered());
    } else {
      expect(server.connections()).toBe(CONNECTIONS);
    }
  });
});
