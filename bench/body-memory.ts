/**
 * `npm run bench:bodies`: what request bodies in flight cost `npm start` in memory (docs/reliability.md, "Request
 * bodies in memory"). The server runs as `npm start` does (`--max-old-space-size=256`, its own process, Basic
 * credentials on), and its RSS is sampled from /proc while:
 * 1. `--strangers` clients without credentials each declare a 4.6 MB result PUT and send all of it but the last
 *    byte (they are refused from their headers, 401, and their connections closed);
 * 2. `--workers` clients with credentials each do the same, hold it, and then all send their last byte at once, so
 *    every body the server took is handled together (past the bound of bodies in flight, 503).
 * Afterwards the server must still answer `GET /`.
 *
 *   npm run bench:bodies [-- --strangers 160 --workers 40]
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { parseResponses } from '../test/support/raw-http';
import { RssSampler, startServerProcess } from './server-process';

const { values } = parseArgs({
  options: {
    strangers: { type: 'string', default: '160' },
    workers: { type: 'string', default: '40' },
  },
});
const strangers = Number(values.strangers);
const workers = Number(values.workers);
if (![strangers, workers].every((n) => Number.isInteger(n) && n >= 0 && n <= 1000)) {
  throw new Error('--strangers and --workers take a whole number from 0 to 1000');
}

const USER = 'bench';
const PASSWORD = 'bench-body-memory';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
/** Below the 4.5 MiB a body may have through Lambda: only credentials or the bound refuse it. */
const SIZE = 4_600_000;
/** How long one phase may take before the bench gives up on it. */
const PHASE_TIMEOUT_MS = 120_000;
const FILLER = Buffer.alloc(64 * 1024, 'x');

interface Held {
  socket: Socket;
  answers: () => number[];
  closed: Promise<void>;
}

/** A PUT of SIZE bytes with all but the last byte sent; resolves once those are written (or the server closed). */
async function holdBody(url: URL, name: string, authorized: boolean): Promise<Held> {
  const socket = connect(Number(url.port), url.hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const auth = authorized ? `Authorization: ${AUTH}\r\n` : '';
  socket.write(
    `PUT /results/${name} HTTP/1.1\r\nHost: bench\r\n${auth}Content-Length: ${SIZE}\r\nConnection: close\r\n\r\n`,
  );
  for (let left = SIZE - 1; left > 0 && socket.writable; left -= FILLER.length) {
    const piece = left >= FILLER.length ? FILLER : FILLER.subarray(0, left);
    if (!socket.write(piece)) {
      await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
    }
  }
  return {
    socket,
    answers: () => parseResponses(Buffer.concat(chunks)).responses.map((answer) => answer.status),
    closed,
  };
}

function withTimeout<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${PHASE_TIMEOUT_MS} ms`)), PHASE_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function tally(statuses: number[][]): string {
  const counts = new Map<string, number>();
  for (const list of statuses) {
    const key = list.length === 0 ? 'none' : list.join('+');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([status, n]) => `${status}: ${n}`).join(', ');
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

async function main(): Promise<void> {
  const server = await startServerProcess({ username: USER, password: PASSWORD, env: { LOG_LEVEL: 'error' } });
  const rss = new RssSampler(server.pid, 20);
  try {
    const url = new URL(server.url);
    console.log(`idle: RSS ${mb(rss.peakBytes)}`);

    rss.reset();
    let started = Date.now();
    const refused = await withTimeout(
      'the strangers',
      Promise.all(Array.from({ length: strangers }, (_, i) => holdBody(url, `stranger_${i}.zip`, false))),
    );
    await withTimeout('the strangers’ answers', Promise.all(refused.map((held) => held.closed)));
    console.log(
      `${strangers} clients without credentials, ${mb(SIZE)} each: ${tally(refused.map((held) => held.answers()))} ` +
        `in ${Date.now() - started} ms; peak RSS ${mb(rss.peakBytes)}`,
    );

    rss.reset();
    started = Date.now();
    const held = await withTimeout(
      'the workers',
      Promise.all(Array.from({ length: workers }, (_, i) => holdBody(url, `worker_${i}.zip`, true))),
    );
    for (const body of held) if (body.socket.writable) body.socket.write('x');
    await withTimeout('the workers’ answers', Promise.all(held.map((body) => body.closed)));
    console.log(
      `${workers} clients with credentials, ${mb(SIZE)} each, handled at once: ` +
        `${tally(held.map((body) => body.answers()))} in ${Date.now() - started} ms; peak RSS ${mb(rss.peakBytes)}`,
    );

    const status = await fetch(`${server.url}/`, { headers: { Authorization: AUTH } });
    console.log(`afterwards GET / answers ${status.status}`);
  } finally {
    rss.stop();
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
