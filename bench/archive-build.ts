/**
 * One archive build in a fresh process, so that its peak RSS (VmHWM) is the build's alone.
 * Usage (from bench/archive.ts): tsx bench/archive-build.ts <submission id>; S3 settings from the environment.
 */
import { readFileSync } from 'node:fs';
import { config } from '../lib/config';
import { archiveCurrentManifest } from '../lib/fileserver/archive-refresh';

function peakRssBytes(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match?.[1] ? Number(match[1]) * 1024 : process.memoryUsage().rss;
}

async function main(): Promise<void> {
  const id = process.argv[2];
  if (!id) throw new Error('usage: archive-build.ts <submission id>');
  const rssBefore = peakRssBytes();
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  const samples: number[][] = [];
  const sampler = process.env.BENCH_SAMPLE
    ? setInterval(() => {
        const m = process.memoryUsage();
        samples.push([m.rss, m.heapTotal, m.external, m.arrayBuffers].map((v) => Math.round(v / 1e6)));
      }, 250)
    : undefined;
  const outcome = await archiveCurrentManifest(id, config().archiveLayout);
  if (sampler) {
    clearInterval(sampler);
    console.error(JSON.stringify(samples));
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpuBefore);
  const result = {
    outcome,
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
    peakRssBytes: peakRssBytes(),
    rssBeforeBytes: rssBefore,
    memoryAtEnd: process.memoryUsage(),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
