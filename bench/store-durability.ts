/**
 * `npm run bench:store`: what the folder store's durability setting costs (docs/embedded-store.md). Writes of
 * results (100 KiB) and of manifests (1 KiB), one at a time and 16 at once, with `--fsync` off and on, straight to
 * the store (no HTTP), on a folder in the system's temporary directory (or --directory).
 *
 *   npm run bench:store [-- --count 400 --directory /var/tmp]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FolderStore } from '../lib/folder-store/folder-store';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '400' }, directory: { type: 'string' } },
});
const count = Number(values.count);
if (!Number.isInteger(count) || count <= 0) throw new Error('--count must be a positive integer');

async function measure(
  fsync: boolean,
  size: number,
  concurrency: number,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  const parent = await mkdtemp(join(values.directory ?? tmpdir(), 'bench-store-'));
  const store = await FolderStore.open({ directory: join(parent, 'store'), bucket: 'bench', fsync });
  const body = randomBytes(size);
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = process.hrtime.bigint();
        await store.putObject(`results/r${i % 50}.zip`, body);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await store.close();
  await rm(parent, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { perSecond: count / seconds, p50: at(0.5), p99: at(0.99) };
}

async function main(): Promise<void> {
  console.log(`${new Date().toISOString()}, ${count} writes per row, folder in ${values.directory ?? tmpdir()}`);
  console.log('| write | at once | fsync | writes/s | p50 ms | p99 ms |');
  console.log('|---|---|---|---|---|---|');
  for (const [label, size] of [
    ['100 KiB result', 100 * 1024],
    ['1 KiB manifest', 1024],
  ] as const) {
    for (const concurrency of [1, 16]) {
      for (const fsync of [false, true]) {
        const r = await measure(fsync, size, concurrency);
        console.log(
          `| ${label} | ${concurrency} | ${fsync ? 'on' : 'off'} | ${r.perSecond.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`,
        );
      }
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
