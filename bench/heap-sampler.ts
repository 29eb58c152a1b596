/**
 * Loaded into the migrating process by `npm run bench:migrate` (`node --expose-gc --import`): once a second it runs a
 * full garbage collection and records the heap still in use, i.e. the live data, which is what "memory stays flat"
 * is about (RSS also holds garbage that V8 has not collected yet). The samples go to HEAP_SAMPLES_FILE at exit.
 */
import { writeFileSync } from 'node:fs';

const file = process.env.HEAP_SAMPLES_FILE;
const gc = (globalThis as { gc?: () => void }).gc;
if (file && gc) {
  const samples: number[] = [];
  const timer = setInterval(() => {
    gc();
    samples.push(process.memoryUsage().heapUsed);
  }, 1000);
  timer.unref();
  process.on('exit', () => writeFileSync(file, JSON.stringify(samples)));
}
