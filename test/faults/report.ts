/**
 * Prints the tables of docs/reliability.md from the figures the suites in test/faults
 * wrote (test/faults/support/tally.ts):
 *
 *   export FAULT_REPORT_DIR=$(mktemp -d)
 *   npm test -- test/faults
 *   npx tsx test/faults/report.ts "$FAULT_REPORT_DIR"
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Figures } from './support/tally';

const dir = process.argv[2] ?? process.env.FAULT_REPORT_DIR;
if (!dir) throw new Error('usage: tsx test/faults/report.ts <FAULT_REPORT_DIR>');
const all = readdirSync(dir)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as Figures);

const sum = (pick: (f: Figures) => number): number => all.reduce((total, f) => total + pick(f), 0);
const counts = (record: Record<string, number>): string =>
  Object.entries(record)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ') || '0';
const merged = (pick: (f: Figures) => Record<string, number>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const f of all) for (const [k, n] of Object.entries(pick(f))) out[k] = (out[k] ?? 0) + n;
  return out;
};

console.log(
  '| suite | HTTP requests | S3 requests (attempts) | faults injected | errors clients saw | objects checked / lost | reads checked / corrupted |',
);
console.log('|---|---|---|---|---|---|---|');
for (const f of [...all, totals()]) {
  console.log(
    `| ${f.suite} | ${f.clientRequests} | ${f.s3Requests || '–'} | ${counts(f.faults)} | ${counts(f.clientErrors)} | ${f.objectsChecked} / ${f.dataLost} | ${f.readsChecked} / ${f.corruptedReads} |`,
  );
}

console.log('\n| bad input | tried | answered |');
console.log('|---|---|---|');
const inputs = new Map<string, number>();
for (const f of all)
  for (const { input, answer } of f.badInputs)
    inputs.set(`${input}\u0000${answer}`, (inputs.get(`${input}\u0000${answer}`) ?? 0) + 1);
for (const [key, n] of inputs) {
  const [input, answer] = key.split('\u0000');
  console.log(`| ${input} | ${n} | ${answer} |`);
}

function totals(): Figures {
  return {
    suite: '**total**',
    clientRequests: sum((f) => f.clientRequests),
    s3Requests: sum((f) => f.s3Requests),
    faults: merged((f) => f.faults),
    clientErrors: merged((f) => f.clientErrors),
    objectsChecked: sum((f) => f.objectsChecked),
    dataLost: sum((f) => f.dataLost),
    readsChecked: sum((f) => f.readsChecked),
    corruptedReads: sum((f) => f.corruptedReads),
    badInputs: [],
  };
}
