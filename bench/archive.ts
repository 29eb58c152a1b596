/**
 * `npm run bench:archive`: archive builds against an embedded S3 server (s3rver), and the delay from POST to archive.
 * It measures the S3 store's path, the one the deployed functions take (the folder store behind `npm start` admits
 * one process, and the builds run in a child process of their own).
 *
 *   npm run bench:archive [-- --sizes 20,200,1024]
 *
 * For each total size (MiB) and each shape (many small text files / a few large random files) it seeds a
 * submission straight into S3, builds its archive in a fresh process, and prints wall time, MB/s of input and the
 * build process's peak RSS. It also measures deflate cost per level, and the time from a POST /submissions answer
 * to the archive being present in S3 (the S3-triggered archiver, no GET) through the local server.
 * Results: a table on the terminal and bench/results/archive.json.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3EventRecord } from 'aws-lambda';
import { build } from 'esbuild';
import { parse } from 'yaml';
import { archiveKey, manifestKey, submissionFileKey } from '../lib/fileserver/keys';
import { type ManifestFile, makeManifest, serializeManifest } from '../lib/fileserver/manifest';
import { type LocalStack, startLocalStack } from '../lib/local/stack';
import { mapWithLimit } from '../lib/util/concurrency';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3 } from '../test/support/embedded-s3';
import { send } from '../test/support/http';
import { multipart } from '../test/support/multipart';

const MiB = 1024 * 1024;
const root = join(__dirname, '..');

interface BuildResult {
  shape: string;
  totalMiB: number;
  files: number;
  ms: number;
  mbPerSecond: number;
  peakRssMB: number;
  /** CPU time of the build process itself; the rest of the wall time is waiting on the S3 server. */
  cpuSeconds: number;
}

/**
 * Real C source text (the system's /usr/include headers), which deflates like students' sources do; a synthetic
 * word salad where the headers are missing.
 */
function textCorpus(bytes: number): Buffer {
  const chunks: Buffer[] = [];
  let length = 0;
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (length >= bytes) return;
      const path = join(dir, name);
      const stat = statSync(path);
      if (stat.isDirectory()) walk(path);
      else if (name.endsWith('.h')) {
        const data = readFileSync(path);
        chunks.push(data);
        length += data.length;
      }
    }
  };
  walk('/usr/include');
  if (length >= bytes) return Buffer.concat(chunks).subarray(0, bytes);
  return syntheticText(bytes);
}

function syntheticText(bytes: number): Buffer {
  const words = [
    'int',
    'return',
    'for',
    'while',
    '(i = 0; i < n; i++)',
    '{',
    '}',
    'printf("%d\\n", x);',
    'sum',
    'vector<int>',
    'std::cin >>',
    '42',
    '3.14159',
    'if',
    'else',
    'result',
    'input',
    'output',
    'node',
    'edge',
  ];
  const parts: string[] = [];
  let length = 0;
  let seed = 12345;
  while (length < bytes) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const word = words[seed % words.length] as string;
    const sep = seed % 11 === 0 ? '\n' : ' ';
    parts.push(word, sep);
    length += word.length + 1;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

function randomStream(bytes: number): Readable {
  let left = bytes;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const n = Math.min(left, MiB);
      left -= n;
      this.push(randomBytes(n));
    },
  });
}

async function seed(
  s3: S3Client,
  bucket: string,
  id: string,
  shape: 'text' | 'random',
  totalMiB: number,
): Promise<number> {
  const files: ManifestFile[] = [];
  if (shape === 'text') {
    const fileSize = 64 * 1024;
    const count = (totalMiB * MiB) / fileSize;
    const corpus = textCorpus(2 * MiB);
    const stored = await mapWithLimit(
      Array.from({ length: count }, (_, i) => i),
      16,
      async (i) => {
        const path = `src/dir${i % 32}/file${i}.txt`;
        const offset = (i * 7919) % (corpus.length - fileSize);
        const body = corpus.subarray(offset, offset + fileSize);
        const put = await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: submissionFileKey(id, path),
            Body: body,
            ContentLength: body.length,
          }),
        );
        return { path, size: body.length, etag: put.ETag ?? '' };
      },
    );
    files.push(...stored);
  } else {
    const count = totalMiB <= 20 ? 2 : 4;
    const fileSize = (totalMiB * MiB) / count;
    for (let i = 0; i < count; i++) {
      const path = `data/blob${i}.bin`;
      const upload = new Upload({
        client: s3,
        partSize: 16 * MiB,
        queueSize: 2,
        params: { Bucket: bucket, Key: submissionFileKey(id, path), Body: randomStream(fileSize) },
      });
      const done = await upload.done();
      files.push({ path, size: fileSize, etag: done.ETag ?? '' });
    }
  }
  const manifest = makeManifest(id, files);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: manifestKey(id),
      Body: serializeManifest(manifest),
      ContentType: 'application/json',
    }),
  );
  return files.length;
}

/** The build runs from an esbuild bundle made like the deployed one (minified, node20), under plain node. */
const BUNDLE = join(root, '.build/bench/archive-build.js');

async function bundleBuilder(): Promise<void> {
  await build({
    entryPoints: [join(root, 'bench/archive-build.ts')],
    outfile: BUNDLE,
    bundle: true,
    minify: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
}

/** The V8 options the deployment gives archive builds (serverless.yml custom.archiveNodeOptions). */
function archiveNodeOptions(): string {
  const document = parse(readFileSync(join(root, 'serverless.yml'), 'utf8')) as {
    custom?: { archiveNodeOptions?: string };
  };
  return document.custom?.archiveNodeOptions ?? '';
}

function buildInChild(
  id: string,
  env: NodeJS.ProcessEnv,
): Promise<{
  ms: number;
  cpuMs: number;
  peakRssBytes: number;
  rssBeforeBytes: number;
  memoryAtEnd: NodeJS.MemoryUsage;
}> {
  return new Promise((resolve, reject) => {
    const nodeOptions = process.env.BENCH_NODE_OPTIONS ?? archiveNodeOptions();
    const child = spawn(process.execPath, [BUNDLE, id], {
      env: { ...env, LOG_LEVEL: 'error', NODE_OPTIONS: nodeOptions },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`build of ${id} exited with ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop() as string));
    });
  });
}

function deflateCost(): { level: number; sample: string; msPerMB: number; ratio: number }[] {
  const samples = { text: textCorpus(16 * MiB), random: randomBytes(16 * MiB) };
  const rows = [];
  for (const level of [1, 6, 9]) {
    for (const [sample, data] of Object.entries(samples)) {
      deflateRawSync(data.subarray(0, MiB), { level }); // warm-up
      const started = process.hrtime.bigint();
      const out = deflateRawSync(data, { level });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      rows.push({ level, sample, msPerMB: ms / 16, ratio: data.length / out.length });
    }
  }
  return rows;
}

/** One local stack per process: the handlers' configuration and S3 client are read once per process. */
async function postToArchiveDelay(stack: LocalStack, s3: S3Client, rounds: number): Promise<number[]> {
  const delays: number[] = [];
  {
    const corpus = textCorpus(MiB);
    for (let round = 0; round < rounds; round++) {
      const id = `bench_delay_${round}`;
      const parts = Array.from({ length: 8 }, (_, i) => ({
        name: i === 0 ? 'job-config.yml' : `src/file${i}.c`,
        filename: `f${i}`,
        data: corpus.subarray(i * 128 * 1024, (i + 1) * 128 * 1024),
      }));
      const { body, contentType } = multipart(parts);
      const answer = await send(stack.url, 'POST', `/submissions/${id}`, {
        body,
        headers: { 'Content-Type': contentType },
      });
      const answered = process.hrtime.bigint();
      if (answer.status !== 200) throw new Error(`POST answered ${answer.status}`);
      for (;;) {
        try {
          await s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: archiveKey(id) }));
          break;
        } catch {
          if (Number(process.hrtime.bigint() - answered) / 1e6 > 10_000) throw new Error('no archive after 10 s');
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      delays.push(Number(process.hrtime.bigint() - answered) / 1e6);
    }
  }
  await stack.notificationsIdle();
  return delays;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { sizes: { type: 'string', default: '20,200,1024' }, shapes: { type: 'string', default: 'text,random' } },
  });
  const shapes = values.shapes.split(',') as ('text' | 'random')[];
  const sizes = values.sizes.split(',').map(Number);
  process.env.LOG_LEVEL = 'error';

  console.log('deflate cost (zlib, 16 MiB samples, this machine):');
  const deflate = deflateCost();
  for (const row of deflate) {
    console.log(
      `  level ${row.level} ${row.sample.padEnd(6)} ${row.msPerMB.toFixed(1).padStart(6)} ms/MB  ratio ${row.ratio.toFixed(2)}`,
    );
  }

  await bundleBuilder();
  const s3rverDirectory = mkdtempSync(join(tmpdir(), 'bench-archive-s3rver-'));
  const bucket = process.env.BUCKET || 'recodex-fileserver';
  const s3rver = await startEmbeddedS3({ directory: s3rverDirectory, bucket });
  Object.assign(process.env, {
    S3_ENDPOINT: s3rver.endpoint,
    BUCKET: bucket,
    AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
  });
  const stack = await startLocalStack({ port: 0 });
  // s3rver's object events stand in for S3 notifications: they start the archiver, as in AWS.
  s3rver.server.on('event', (event: { Records?: S3EventRecord[] }) => stack.dispatchS3Event(event));
  const s3 = new S3Client({
    endpoint: stack.s3Endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const builds: BuildResult[] = [];
  let delays: number[] = [];
  try {
    delays = await postToArchiveDelay(stack, s3, 10);
    const sorted = [...delays].sort((a, b) => a - b);
    console.log(
      `POST answered → archive in S3 (1 MiB, 8 files, 10 rounds): median ${sorted[5]?.toFixed(0)} ms, max ${sorted[9]?.toFixed(0)} ms`,
    );
    console.log('\nshape        size      files   wall s   build CPU s    MB/s   peak RSS MB (at start)');
    for (const shape of shapes) {
      for (const totalMiB of sizes) {
        const id = `bench_${shape}_${totalMiB}`;
        const files = await seed(s3, stack.bucket, id, shape, totalMiB);
        const { ms, cpuMs, peakRssBytes, rssBeforeBytes, memoryAtEnd } = await buildInChild(id, process.env);
        if (process.env.BENCH_VERBOSE) console.log(JSON.stringify(memoryAtEnd));
        const row: BuildResult = {
          shape: shape === 'text' ? 'small text files (64 KiB)' : 'large random files',
          totalMiB,
          files,
          ms,
          mbPerSecond: (totalMiB * MiB) / 1e6 / (ms / 1000),
          peakRssMB: peakRssBytes / 1e6,
          cpuSeconds: cpuMs / 1000,
        };
        builds.push(row);
        console.log(
          `${shape.padEnd(8)} ${String(totalMiB).padStart(6)} MiB ${String(files).padStart(8)} ${(ms / 1000).toFixed(1).padStart(8)} ${row.cpuSeconds.toFixed(1).padStart(13)} ${row.mbPerSecond.toFixed(1).padStart(7)} ${row.peakRssMB.toFixed(0).padStart(12)} (${(rssBeforeBytes / 1e6).toFixed(0)})`,
        );
      }
    }
  } finally {
    await stack.notificationsIdle();
    s3.destroy();
    await stack.close();
    await s3rver.close();
    rmSync(s3rverDirectory, { recursive: true, force: true });
  }
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const result = { when: new Date().toISOString(), node: process.version, deflate, postToArchiveMs: delays, builds };
  writeFileSync(join(root, 'bench/results/archive.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log('\nwritten: bench/results/archive.json');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
