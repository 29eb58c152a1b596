/**
 * `npm run soak`: the mixed workload for a bounded time, then every acknowledged write read back byte for byte.
 *
 *   npm run soak [-- --duration 60 --connections 32]
 *   npm run soak -- --target http://old-fileserver:9999 --user re --password codex
 *
 * Every submission and result the server answered with 2xx is recorded; each carries content of its own (derived
 * from its id), so a write stored under another name, or not at all, is caught. Passes with 0 errors, 0 lost or
 * corrupted writes, and (local stack) the server's RSS at the end within 20 % of its value after the warm-up.
 * Results: a summary and bench/results/soak.json. Not run in CI: it takes about two minutes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mapWithLimit } from '../lib/util/concurrency';
import { readZip } from '../test/support/zip';
import { waitUntilIdle } from './cpu';
import { type LoadFigures, runLoad } from './load';
import { loadFlags, nonNegative, positive, resolveTarget } from './options';
import { processMemory } from './server-process';
import {
  type AcknowledgedWrite,
  call,
  prepareWorkload,
  resultContent,
  submissionFiles,
  type Target,
} from './workloads';

const root = join(__dirname, '..');
const MB = 1e6;
/** Issue 8: RSS at the end within 20 % of its value after the warm-up. */
const RSS_GROWTH_LIMIT = 0.2;
const READ_BACK_CONCURRENCY = 16;

type Verdict = 'ok' | 'lost' | 'corrupted';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      ...loadFlags({ connections: 32, duration: 60, warmup: 10 }),
    },
  });
  const connections = positive(values.connections, '--connections');
  const durationSeconds = positive(values.duration, '--duration');
  const warmupSeconds = nonNegative(values.warmup, '--warmup');
  const { target, server } = await resolveTarget(values, { env: { LOG_LEVEL: values['log-level'] } });

  const writes: AcknowledgedWrite[] = [];
  const workload = await prepareWorkload('mixed', target, {
    runId: `soak${Date.now().toString(36)}`,
    uniqueContent: true,
    onAcknowledged: (write) => writes.push(write),
  });
  let warmup: LoadFigures | undefined;
  let load: LoadFigures;
  let rssAfterWarmupMB: number | undefined;
  let rssAtEndMB: number | undefined;
  let rssAfterReadBackMB: number | undefined;
  let peakRssMB: number | undefined;
  let rssTimelineMB: number[] | undefined;
  let verdicts: { write: AcknowledgedWrite; verdict: Verdict; detail?: string }[];
  try {
    console.log(
      `soak: target ${target.url}, mixed workload, ${connections} connections, ${warmupSeconds} s warm-up + ` +
        `${durationSeconds} s`,
    );
    if (warmupSeconds > 0) warmup = await runLoad(target, workload, { connections, durationSeconds: warmupSeconds });
    if (server) {
      await waitUntilIdle(server.pid);
      rssAfterWarmupMB = processMemory(server.pid).rssBytes / MB;
    }
    const timeline = server ? sampleRss(server.pid, 5000) : undefined;
    load = await runLoad(target, workload, { connections, durationSeconds });
    rssTimelineMB = timeline?.stop();
    if (server) {
      // Taken before the archive builds still queued are done: the state the load left behind.
      rssAtEndMB = processMemory(server.pid).rssBytes / MB;
      await waitUntilIdle(server.pid);
    }
    console.log(`load done: ${writes.length} acknowledged writes; reading them all back`);
    verdicts = await mapWithLimit(writes, READ_BACK_CONCURRENCY, async (write) => ({
      write,
      ...(await readBack(target, write)),
    }));
    if (server) {
      rssAfterReadBackMB = processMemory(server.pid).rssBytes / MB;
      peakRssMB = processMemory(server.pid).peakRssBytes / MB;
    }
  } finally {
    await server?.stop();
  }

  const count = (verdict: Verdict): number => verdicts.filter((entry) => entry.verdict === verdict).length;
  const errors = load.errors + (warmup?.errors ?? 0);
  const non2xx = load.non2xx + (warmup?.non2xx ?? 0);
  const growth =
    rssAfterWarmupMB !== undefined && rssAtEndMB !== undefined ? rssAtEndMB / rssAfterWarmupMB - 1 : undefined;
  const failures = [
    ...(errors > 0 ? [`${errors} connection errors or timeouts`] : []),
    ...(non2xx > 0 ? [`${non2xx} non-2xx answers`] : []),
    ...(count('lost') > 0 ? [`${count('lost')} lost writes`] : []),
    ...(count('corrupted') > 0 ? [`${count('corrupted')} corrupted writes`] : []),
    ...(growth !== undefined && growth > RSS_GROWTH_LIMIT ? [`RSS grew ${(growth * 100).toFixed(0)} %`] : []),
  ];
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    target: server ? 'local stack (npm start, folder store)' : target.url,
    connections,
    warmupSeconds,
    durationSeconds,
    load,
    warmup,
    writes: {
      acknowledged: writes.length,
      submissions: writes.filter((write) => write.kind === 'submission').length,
      results: writes.filter((write) => write.kind === 'result').length,
      verified: count('ok'),
      lost: count('lost'),
      corrupted: count('corrupted'),
      problems: verdicts.filter((entry) => entry.verdict !== 'ok').slice(0, 20),
    },
    rssMB: {
      afterWarmup: rssAfterWarmupMB,
      atEnd: rssAtEndMB,
      afterReadBack: rssAfterReadBackMB,
      peak: peakRssMB,
      every5sDuringLoad: rssTimelineMB,
    },
    rssGrowth: growth,
    passed: failures.length === 0,
    failures,
  };
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/soak.json'), `${JSON.stringify(result, null, 2)}\n`);

  console.log(
    `load: ${load.requests.toLocaleString('en-US')} requests in ${load.seconds} s (${Math.round(load.rps)} req/s), ` +
      `p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, max ${load.maxMs} ms; errors ${errors}, non-2xx ${non2xx}`,
  );
  console.log(
    `writes: ${writes.length} acknowledged (${result.writes.submissions} submissions, ${result.writes.results} ` +
      `results); read back byte-exact: ${count('ok')}, lost: ${count('lost')}, corrupted: ${count('corrupted')}`,
  );
  if (growth !== undefined) {
    console.log(
      `server RSS: ${rssAfterWarmupMB?.toFixed(0)} MB after warm-up, ${rssAtEndMB?.toFixed(0)} MB at the end ` +
        `(${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)} %, limit +${RSS_GROWTH_LIMIT * 100} %), ` +
        `${rssAfterReadBackMB?.toFixed(0)} MB after the read-back, peak ${peakRssMB?.toFixed(0)} MB`,
    );
    console.log(`server RSS every 5 s during the load, MB: ${rssTimelineMB?.join(', ')}`);
  }
  console.log(result.passed ? 'PASSED' : `FAILED: ${failures.join('; ')}`);
  console.log('written: bench/results/soak.json');
  if (!result.passed) process.exitCode = 1;
}

/** RSS every `intervalMs` until stopped, in MB: shows whether memory levels off or keeps climbing. */
function sampleRss(pid: number, intervalMs: number): { stop(): number[] } {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(Math.round(processMemory(pid).rssBytes / MB)), intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

/** Reads one acknowledged write back and compares it byte for byte with what was sent. */
async function readBack(target: Target, write: AcknowledgedWrite): Promise<{ verdict: Verdict; detail?: string }> {
  if (write.kind === 'result') {
    const answer = await call(target, 'GET', `/results/${write.name}`);
    if (answer.status === 404) return { verdict: 'lost' };
    if (answer.status !== 200) return { verdict: 'corrupted', detail: `GET answered ${answer.status}` };
    return answer.body.equals(resultContent(write.name))
      ? { verdict: 'ok' }
      : { verdict: 'corrupted', detail: `${answer.body.length} bytes differ from what was sent` };
  }
  const answer = await call(target, 'GET', `/submission_archives/${write.id}.zip`);
  if (answer.status === 404) return { verdict: 'lost' };
  if (answer.status !== 200) return { verdict: 'corrupted', detail: `GET answered ${answer.status}` };
  let entries: Awaited<ReturnType<typeof readZip>>;
  try {
    entries = await readZip(answer.body);
  } catch (err) {
    return { verdict: 'corrupted', detail: `not a readable zip: ${String(err)}` };
  }
  // Either archive layout (docs/protocol.md §3): entries under `<id>/` or at the root.
  const stored = new Map(
    entries
      .filter((entry) => !entry.name.endsWith('/'))
      .map((entry) => [
        entry.name.startsWith(`${write.id}/`) ? entry.name.slice(write.id.length + 1) : entry.name,
        entry,
      ]),
  );
  const expected = submissionFiles(write.id);
  if (stored.size !== expected.length) {
    return { verdict: 'corrupted', detail: `${stored.size} files in the archive, ${expected.length} sent` };
  }
  for (const file of expected) {
    const entry = stored.get(file.path);
    if (!entry) return { verdict: 'corrupted', detail: `${file.path} is missing from the archive` };
    if (!entry.data.equals(file.data)) return { verdict: 'corrupted', detail: `${file.path} differs` };
  }
  return { verdict: 'ok' };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
