/**
 * One measured autocannon run of a prepared workload, reduced to the figures the benchmark and the soak report.
 */
import autocannon from 'autocannon';
import { keepResponseBodiesOnlyWhenRead } from './autocannon-body';
import { reconnectWhenServerCloses } from './autocannon-close';
import type { PreparedWorkload, Target } from './workloads';

export interface LoadOptions {
  connections: number;
  durationSeconds: number;
  /** Off only for the self-check's comparison: autocannon 9 as it is against servers that close connections. */
  reconnectWhenServerCloses?: boolean;
}

export interface LoadFigures {
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Response bytes per second, in MB (10^6). */
  mbPerSecondDown: number;
  /** Request-body bytes per second, in MB. */
  mbPerSecondUp: number;
  /** Connection errors and timeouts: requests that got no answer. */
  errors: number;
  timeouts: number;
  /** Answers outside 2xx, by status. */
  non2xx: number;
  statusCounts: Record<string, number>;
  /** CPU time of this process (the load generator) per request: when it nears 1 core, the client is the limit. */
  clientCpuMsPerRequest: number;
}

export async function runLoad(target: Target, workload: PreparedWorkload, options: LoadOptions): Promise<LoadFigures> {
  keepResponseBodiesOnlyWhenRead();
  reconnectWhenServerCloses(options.reconnectWhenServerCloses ?? true);
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({
    url: target.url,
    connections: options.connections,
    duration: options.durationSeconds,
    requests: workload.requests,
    // 10 s: a request that takes longer is reported as an error rather than stalling the run.
    timeout: 10,
  });
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = result.duration;
  const requests = result.requests.total;
  const statusCounts: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) statusCounts[status] = stats.count ?? 0;
  return {
    requests,
    seconds,
    rps: requests / seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    mbPerSecondDown: result.throughput.total / seconds / 1e6,
    mbPerSecondUp: (requests * workload.sentBytesPerRequest) / seconds / 1e6,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCounts,
    clientCpuMsPerRequest: (cpu.user + cpu.system) / 1000 / Math.max(1, requests),
  };
}
