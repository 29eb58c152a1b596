/**
 * `npm run bench:migrate`: how fast `npm run fileserver -- migrate` copies an old fileserver's folder, and with how
 * much memory (docs/operations.md, "Migration throughput").
 *
 *   npm run bench:migrate [-- --small 10000 --large 4 --large-mib 50 --concurrency 8]
 *   S3_ENDPOINT=http://127.0.0.1:4566 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test npm run bench:migrate
 *
 * Two folders in the old layout, made here: one of `--small` small files (exercise files, submissions of four files,
 * results and attachments, 0.5 to 16 KiB each), and one of `--large` large random files of `--large-mib` MiB
 * (exercise files, a result and a submission's file). Each is migrated by the tool in its own process, as an operator
 * runs it, into a fresh bucket: the embedded S3 server (s3rver, in this process) without S3_ENDPOINT, the given
 * endpoint (LocalStack) with it. Then it is migrated again, which must copy nothing. The figures are the tool's own
 * report (wall time, files, bytes, its peak RSS). Results: a table on the terminal and bench/results/migrate.json.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { EMBEDDED_S3_CREDENTIALS, startEmbeddedS3 } from '../test/support/embedded-s3';
import { positive } from './options';

const KiB = 1024;
const MiB = 1024 * KiB;
const root = join(__dirname, '..');

interface Run {
  folder: string;
  target: string;
  run: 'first' | 'again';
  files: number;
  mib: number;
  seconds: number;
  filesPerSecond: number;
  mibPerSecond: number;
  copiedFiles: number;
  peakRssMB: number;
  /** The heap in use after a full GC, sampled every second: first, smallest, largest, last (MB). */
  liveHeapMB: { first: number; min: number; max: number; last: number; samples: number };
}

const sha1 = (data: Buffer): string => createHash('sha1').update(data).digest('hex');

function writeFile(path: string, data: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/** Text-like bytes of `size` (deflatable, like sources and test data), different for every seed. */
function textOf(size: number, seed: number): Buffer {
  const line = Buffer.from(`${seed} lorem ipsum dolor sit amet ${seed * 7919}\n`);
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += line.length) line.copy(out, i);
  return out;
}

/** 70 % exercise files, 24 % submission files (4 per submission), 4 % results, 2 % attachments. */
function smallFolder(dir: string, count: number): void {
  const exercises = Math.round(count * 0.7);
  const submissions = Math.round((count * 0.24) / 4);
  const results = Math.round(count * 0.04);
  const attachments = count - exercises - submissions * 4 - results;
  const size = (i: number) => 512 + ((i * 2654435761) % (16 * KiB - 512));
  for (let i = 0; i < exercises; i++) {
    const data = textOf(size(i), i);
    const hash = sha1(data);
    writeFile(join(dir, 'tasks', hash[0] as string, hash), data);
  }
  for (let i = 0; i < submissions; i++) {
    const base = join(dir, 'submissions', `bench_${i}`);
    writeFile(join(base, 'main.c'), textOf(size(i + 1), i));
    writeFile(join(base, 'src/util.h'), textOf(size(i + 2), i + 1));
    writeFile(join(base, 'src/util.c'), textOf(size(i + 3), i + 2));
    writeFile(join(base, 'job-config.yml'), textOf(600, i));
  }
  for (let i = 0; i < results; i++) writeFile(join(dir, 'results', `bench_${i}.zip`), randomBytes(size(i)));
  for (let i = 0; i < attachments; i++) writeFile(join(dir, 'attachments', `att_${i}`), textOf(size(i), i));
}

/** `count` random files of `mib` MiB: exercise files, then a result, then a submission's file. */
function largeFolder(dir: string, count: number, mib: number): void {
  for (let i = 0; i < count; i++) {
    const data = randomBytes(mib * MiB);
    if (i === count - 1 && count > 2) writeFile(join(dir, 'submissions/bench_large/data/input.bin'), data);
    else if (i === count - 2 && count > 2) writeFile(join(dir, 'results/bench_large.zip'), data);
    else writeFile(join(dir, 'tasks', sha1(data)[0] as string, sha1(data)), data);
  }
}

/** The tool in its own process, as `npm run fileserver` runs it; its JSON report. */
function runTool(
  from: string,
  env: NodeJS.ProcessEnv,
  concurrency: number,
): Promise<{ report: Record<string, unknown>; liveHeapMB: number[] }> {
  const samples = join(tmpdir(), `bench-migrate-heap-${process.pid}-${Date.now()}.json`);
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        '--import',
        'tsx',
        '--import',
        join(root, 'bench/heap-sampler.ts'),
        join(root, 'lib/operator/cli.ts'),
        'migrate',
        '--from',
        from,
        '--json',
        '--concurrency',
        String(concurrency),
      ],
      {
        cwd: root,
        env: { ...process.env, ...env, NODE_OPTIONS: '--openssl-legacy-provider', HEAP_SAMPLES_FILE: samples },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      try {
        const report = JSON.parse(out) as Record<string, unknown>;
        const heap = (JSON.parse(readFileSync(samples, 'utf8')) as number[]).map((bytes) => bytes / 1e6);
        rmSync(samples, { force: true });
        if (code !== 0) reject(new Error(`migrate exited with ${code}: ${JSON.stringify(report.failed)}`));
        else resolve({ report, liveHeapMB: heap });
      } catch (err) {
        reject(
          new Error(`migrate exited with ${code}; no report or heap samples (${(err as Error).message}):\n${out}`),
        );
      }
    });
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      small: { type: 'string', default: '10000' },
      large: { type: 'string', default: '4' },
      'large-mib': { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '8' },
    },
  });
  const small = positive(values.small, '--small');
  const large = positive(values.large, '--large');
  const largeMib = positive(values['large-mib'], '--large-mib');
  const concurrency = positive(values.concurrency, '--concurrency');
  const work = mkdtempSync(join(tmpdir(), 'bench-migrate-'));
  const folders = { small: join(work, 'small'), large: join(work, 'large') };
  smallFolder(folders.small, small);
  largeFolder(folders.large, large, largeMib);

  const external = process.env.S3_ENDPOINT;
  const embedded = external ? undefined : await startEmbeddedS3({ directory: join(work, 's3'), bucket: 'unused' });
  const endpoint = external ?? (embedded?.endpoint as string);
  const credentials = external
    ? {
        accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'test',
        secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
      }
    : EMBEDDED_S3_CREDENTIALS;
  const target = external ? `S3 endpoint ${external}` : 'embedded S3 (s3rver)';
  const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials });
  const runs: Run[] = [];
  try {
    for (const [name, from] of Object.entries(folders)) {
      const bucket = `bench-migrate-${name}-${Date.now()}`;
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const env = {
        S3_ENDPOINT: endpoint,
        BUCKET: bucket,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_REGION: 'us-east-1',
        MAX_UPLOAD_BYTES: String(5 * 1024 * MiB),
      };
      for (const run of ['first', 'again'] as const) {
        const { report, liveHeapMB } = await runTool(from, env, concurrency);
        const folder = report.folder as { files: number; bytes: number };
        const seconds = report.seconds as number;
        const copied = (report.totals as { copied: { files: number } }).copied.files;
        runs.push({
          folder: name === 'small' ? `${small} small files` : `${large} × ${largeMib} MiB`,
          target,
          run,
          files: folder.files,
          mib: folder.bytes / MiB,
          seconds,
          filesPerSecond: folder.files / seconds,
          mibPerSecond: folder.bytes / MiB / seconds,
          copiedFiles: copied,
          peakRssMB: (report.peakRssBytes as number) / 1e6,
          liveHeapMB: {
            first: liveHeapMB[0] ?? 0,
            min: Math.min(...liveHeapMB),
            max: Math.max(...liveHeapMB),
            last: liveHeapMB[liveHeapMB.length - 1] ?? 0,
            samples: liveHeapMB.length,
          },
        });
        const last = runs[runs.length - 1] as Run;
        console.log(
          `${last.folder}, ${run} run: ${last.files} files, ${last.mib.toFixed(1)} MiB in ${seconds.toFixed(1)} s, ` +
            `${last.filesPerSecond.toFixed(0)} files/s, ${last.mibPerSecond.toFixed(1)} MiB/s, copied ${copied}, ` +
            `peak RSS ${last.peakRssMB.toFixed(0)} MB, live heap ${heapRange(last)}`,
        );
      }
    }
  } finally {
    client.destroy();
    await embedded?.close();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`\n${new Date().toISOString()}, ${target}, concurrency ${concurrency}, Node ${process.version}\n`);
  console.log('| folder | run | files | MiB | s | files/s | MiB/s | files copied | peak RSS MB | live heap MB |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of runs) {
    console.log(
      `| ${r.folder} | ${r.run} | ${r.files} | ${r.mib.toFixed(1)} | ${r.seconds.toFixed(1)} | ${r.filesPerSecond.toFixed(0)} | ` +
        `${r.mibPerSecond.toFixed(1)} | ${r.copiedFiles} | ${r.peakRssMB.toFixed(0)} | ${heapRange(r)} |`,
    );
  }
  const out = join(root, 'bench/results', external ? 'migrate-localstack.json' : 'migrate.json');
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), target, concurrency, node: process.version, runs }, null, 2)}\n`,
  );
  console.log(`\nwritten: ${out}`);
}

/** The live heap over a run: its range, from the samples taken once a second. */
function heapRange(run: Run): string {
  const h = run.liveHeapMB;
  return h.samples === 0 ? '–' : `${h.min.toFixed(0)}–${h.max.toFixed(0)}`;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
