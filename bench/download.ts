/**
 * `npm run bench:download`: a large download through the fileserver's route (302 to a presigned S3 URL, followed)
 * against fetching a presigned URL straight from S3, in the same run (issue: the route must reach at least 90 % of
 * the direct throughput; the redirect costs one small extra round trip, then the bytes flow from S3 as directly).
 *
 *   npm run bench:download [-- --mib 65 --rounds 30]
 *
 * It starts `npm start`'s server (its folder store, Basic auth on) as a child process, uploads one random exercise file
 * through the large-upload route, then alternates the two kinds of download, each on fresh connections as a worker
 * makes them, reading every byte and checking its SHA-1. Results: a table and bench/results/download.json.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { positive } from './options';
import { startServerProcess } from './server-process';

const MiB = 1024 * 1024;
const root = join(__dirname, '..');
const USER = 'bench';
const PASSWORD = 'bench-password';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: number;
  sha1: string;
}

/**
 * One HTTP exchange on a fresh connection. The body is counted as it streams, never held; with `hash`, it is also
 * hashed (kept out of the timed rounds: hashing 65 MiB costs the client more CPU than receiving it).
 */
function exchange(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer; hash?: boolean } = {},
) {
  return new Promise<Answer>((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const hash = options.hash ? createHash('sha1') : undefined;
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash?.update(chunk);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, sha1: hash?.digest('hex') ?? '' }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { mib: { type: 'string', default: '65' }, rounds: { type: 'string', default: '30' } },
  });
  const size = positive(values.mib, '--mib') * MiB;
  const rounds = positive(values.rounds, '--rounds');
  const server = await startServerProcess({ username: USER, password: PASSWORD, env: { LOG_LEVEL: 'warn' } });
  const { url } = server;
  try {
    const content = randomBytes(size);
    const sha1 = createHash('sha1').update(content).digest('hex');
    const granted = await exchangeJson(`${url}/uploads/exercises/${sha1}`, { size });
    const upload = granted.upload as { url: string; headers: Record<string, string> };
    const put = await exchange(upload.url, { method: 'PUT', headers: upload.headers, body: content });
    if (put.status !== 200) throw new Error(`the presigned upload answered ${put.status}`);

    /** Through the route: the GET with credentials, its 302, then the presigned GET without them. */
    const viaRoute = async (hash = false): Promise<Answer> => {
      const first = await exchange(`${url}/exercises/${sha1}`, { headers: { Authorization: AUTH } });
      if (first.status !== 302) throw new Error(`the route answered ${first.status}, not 302`);
      return exchange(String(first.headers.location), { hash });
    };
    // The direct URL is presigned before the clock starts (by the same route, so it is the same kind of URL).
    const presigned = async (): Promise<string> =>
      String((await exchange(`${url}/exercises/${sha1}`, { headers: { Authorization: AUTH } })).headers.location);

    const timed = async (fetch: () => Promise<Answer>): Promise<number> => {
      const started = process.hrtime.bigint();
      const answer = await fetch();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (answer.status !== 200 || answer.bytes !== size || (answer.sha1 !== '' && answer.sha1 !== sha1)) {
        throw new Error(`a download came back wrong: ${answer.status}, ${answer.bytes} bytes`);
      }
      return size / MiB / seconds;
    };

    // Warm-up (JIT, file cache, connection paths), with both kinds checked byte for byte by their SHA-1.
    await timed(() => viaRoute(true));
    const checked = await presigned();
    await timed(() => exchange(checked, { hash: true }));
    const route: number[] = [];
    const direct: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // Paired and alternated, so that drift on a shared machine touches both equally.
      const throughRoute = await timed(() => viaRoute());
      const location = await presigned();
      const straight = await timed(() => exchange(location));
      route.push(throughRoute);
      direct.push(straight);
      ratios.push(throughRoute / straight);
    }
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      sizeMiB: size / MiB,
      rounds,
      routeMiBps: { median: median(route), all: route },
      directMiBps: { median: median(direct), all: direct },
      /** The median of the paired rounds' ratios (route / direct). */
      ratio: median(ratios),
    };
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, 'bench/results/download.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(`download of ${size / MiB} MiB, ${rounds} rounds each, median MiB/s:`);
    console.log(`  through the route (302, followed): ${result.routeMiBps.median.toFixed(1)}`);
    console.log(`  presigned URL fetched directly:    ${result.directMiBps.median.toFixed(1)}`);
    console.log(`  route / direct, median of the paired rounds: ${(result.ratio * 100).toFixed(1)} % (target ≥ 90 %)`);
    if (result.ratio < 0.9) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

async function exchangeJson(url: string, body: unknown): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', headers: { Authorization: AUTH, 'Content-Type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          if (res.statusCode !== 200) reject(new Error(`${url} answered ${res.statusCode}: ${text}`));
          else resolve(JSON.parse(text) as Record<string, unknown>);
        });
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
