/**
 * `npm run bench:store`: what one folder-store operation costs, straight to the store (no HTTP), on a folder in the
 * system's temporary directory (or --directory); docs/embedded-store.md. Writes of results (100 KiB) and of
 * manifests (1 KiB), one at a time and 16 at once, with `--fsync` off and on; then reads (GET with its bytes, HEAD,
 * a missing key) of 1 KiB, 100 KiB and 1 MiB objects. Each row gives the rate, the latency and the process's CPU
 * time (user + system, every thread) per operation: on a machine shared with other work the CPU figure moves least.
 *
 *   npm run bench:store [-- --count 400 --directory /var/tmp]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FolderStore } from '../lib/storage/folder-store/folder-store';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '400' },
    directory: { type: 'string' },
  },
});
const count = Number(values.count);
if (!Number.isInteger(count) || count <= 0) throw new Error('--count must be a positive integer');

interface Figures {
  perSecond: number;
  p50: number;
  p99: number;
  cpuMicros: number;
}

/** Runs `operation(i)` for i < count, `concurrency` at a time, and measures it. */
async function run(concurrency: number, operation: (i: number) => Promise<unknown>): Promise<Figures> {
  const latencies: number[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = process.hrtime.bigint();
        await operation(i);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { perSecond: count / seconds, p50: at(0.5), p99: at(0.99), cpuMicros: (used.user + used.system) / count };
}

async function withStore<T>(fsync: boolean, use: (store: FolderStore) => Promise<T>): Promise<T> {
  const parent = await mkdtemp(join(values.directory ?? tmpdir(), 'bench-store-'));
  const store = await FolderStore.open({ directory: join(parent, 'store'), bucket: 'bench', fsync });
  try {
    return await use(store);
  } finally {
    await store.close();
    await rm(parent, { recursive: true, force: true });
  }
}

const row = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
const figures = (r: Figures): string[] => [
  r.perSecond.toFixed(0),
  r.p50.toFixed(2),
  r.p99.toFixed(2),
  r.cpuMicros.toFixed(0),
];

async function main(): Promise<void> {
  console.log(`${new Date().toISOString()}, ${count} operations per row, folder in ${values.directory ?? tmpdir()}`);
  console.log('| write | at once | fsync | writes/s | p50 ms | p99 ms | CPU µs/write |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [label, size] of [
    ['100 KiB result', 100 * 1024],
    ['1 KiB manifest', 1024],
  ] as const) {
    for (const concurrency of [1, 16]) {
      for (const fsync of [false, true]) {
        const body = randomBytes(size);
        const r = await withStore(fsync, (store) =>
          run(concurrency, (i) => store.putObject(`results/r${i % 50}.zip`, body)),
        );
        console.log(row([label, concurrency, fsync ? 'on' : 'off', ...figures(r)]));
      }
    }
  }
  console.log('');
  console.log('| read | at once | reads/s | p50 ms | p99 ms | CPU µs/read |');
  console.log('|---|---|---|---|---|---|');
  await withStore(false, async (store) => {
    for (const [label, size] of [
      ['1 KiB', 1024],
      ['100 KiB', 100 * 1024],
      ['1 MiB', 1024 * 1024],
    ] as const) {
      for (let i = 0; i < 50; i++) await store.putObject(`objects/${size}/o${i}`, randomBytes(size));
      const get = async (i: number): Promise<void> => {
        const key = `objects/${size}/o${i % 50}`;
        const object = await store.getObject(key);
        if (!object) throw new Error(`${key} is missing`);
        await store.readObjectBytes(key, object, size);
      };
      for (const concurrency of [1, 16])
        console.log(row([`GET ${label} with its bytes`, concurrency, ...figures(await run(concurrency, get))]));
      const head = (i: number): Promise<unknown> => store.headObject(`objects/${size}/o${i % 50}`);
      console.log(row([`HEAD ${label}`, 1, ...figures(await run(1, head))]));
    }
    const missing = (i: number): Promise<unknown> => store.getObject(`objects/missing/o${i}`);
    console.log(row(['GET of a missing key', 1, ...figures(await run(1, missing))]));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
