/**
 * `npm run bench -- --self-check`: the load runner against two small servers of its own on 127.0.0.1, one that
 * closes every connection after its answer (`Connection: close`, as gunicorn's sync workers do) and one that keeps
 * connections alive, each answering after the same short delay. Every answer names its request, so answers credited
 * to the wrong request are counted. Against the closing server the runner runs twice, with and without its fix for
 * autocannon 9 (bench/autocannon-close.ts): latency and attribution should match the keep-alive server's, not the
 * unfixed run's. test/bench/load-runner.test.ts asserts the attribution; this shows the figures.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type autocannon from 'autocannon';
import { runLoad } from './load';

/** What the servers "work" per request, so latency has a right answer: about this, plus the connection. */
const ANSWER_DELAY_MS = 5;

interface CheckServer {
  url: string;
  close(): Promise<void>;
}

async function startCheckServer(closeEach: boolean): Promise<CheckServer> {
  const server: Server = createServer((req, res) => {
    setTimeout(() => {
      const body = Buffer.from(req.url ?? '');
      res.writeHead(200, {
        'Content-Type': 'text/plain',
        'Content-Length': body.length,
        ...(closeEach ? { Connection: 'close' } : {}),
      });
      res.end(body);
    }, ANSWER_DELAY_MS);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function runSelfCheck(options: { connections: number; durationSeconds: number }): Promise<boolean> {
  const closing = await startCheckServer(true);
  const keepAlive = await startCheckServer(false);
  const runs = [
    { server: 'Connection: close', runner: 'autocannon 9 as it is', url: closing.url, fix: false },
    { server: 'Connection: close', runner: 'the bench runner', url: closing.url, fix: true },
    { server: 'keep-alive', runner: 'the bench runner', url: keepAlive.url, fix: true },
  ];
  const lines = [
    `| server (answers after ${ANSWER_DELAY_MS} ms) | runner | req/s | p50 ms | p99 ms | errors | answers credited to another request |`,
    '|---|---|---|---|---|---|---|',
  ];
  let ok = true;
  try {
    for (const run of runs) {
      let wrong = 0;
      const requests: autocannon.Request[] = ['/first', '/second', '/third'].map((path) => ({
        method: 'GET',
        path,
        onResponse: (_status: number, body: string) => {
          if (body !== path) wrong++;
        },
      }));
      const figures = await runLoad(
        { url: run.url, authorization: undefined },
        { name: 'self-check', requests, sentBytesPerRequest: 0 },
        { ...options, reconnectWhenServerCloses: run.fix },
      );
      if (run.fix && (wrong > 0 || figures.errors > 0 || figures.non2xx > 0)) ok = false;
      lines.push(
        `| ${run.server} | ${run.runner} | ${Math.round(figures.rps).toLocaleString('en-US')} | ` +
          `${figures.p50Ms.toFixed(1)} | ${figures.p99Ms.toFixed(1)} | ${figures.errors} | ${wrong} |`,
      );
    }
  } finally {
    await closing.close();
    await keepAlive.close();
  }
  console.log(lines.join('\n'));
  console.log(ok ? 'self-check passed' : 'self-check FAILED: the bench runner miscounted');
  return ok;
}
