/**
 * The cost of the deployed path per 1,000 evaluations (`npm run bench:deployed`, docs/benchmarks.md): what AWS bills
 * for the requests and the compute that the bench measured per operation, at list prices of one region.
 */

/**
 * List prices in one region, US East (N. Virginia), read on 2026-12-07 from each source. The functions are x86_64
 * (serverless.yml names no architecture); S3 Standard; API Gateway REST API, which a PRIVATE API is.
 */
export const PRICES = {
  region: 'us-east-1',
  date: '2026-12-07',
  apiGateway: {
    /** REST API calls, the first 333 million a month. */
    perMillionRequests: 3.5,
    source: 'https://aws.amazon.com/api-gateway/pricing/',
  },
  lambda: {
    perMillionRequests: 0.2,
    /** x86_64, the first 6 billion GB-seconds a month. */
    perGbSecond: 0.0000166667,
    source: 'https://aws.amazon.com/lambda/pricing/',
  },
  s3: {
    /** PUT, COPY, POST, LIST requests, S3 Standard. */
    perThousandPut: 0.005,
    /** GET, SELECT and all other requests (HEAD), S3 Standard. */
    perThousandGet: 0.0004,
    source: 'https://aws.amazon.com/s3/pricing/',
  },
  oldServer: {
    /** The old fileserver's one small instance: a t3.small on demand, Linux, 730 hours a month. */
    instance: 't3.small',
    perHour: 0.0208,
    hoursPerMonth: 730,
    source: 'https://aws.amazon.com/ec2/pricing/on-demand/',
  },
} as const;

/** The bench's figures of one operation that its bill depends on. */
export interface OperationCostInput {
  operation: string;
  /** The function's memory size (MB), the GB of its GB-seconds. */
  memoryMb: number;
  /** The billed duration of one invocation, ms: the median of the runs. */
  billedMsP50: number;
  /** S3 requests billed at the PUT price (PUT, COPY, POST, LIST) and at the GET price (GET, HEAD, the others). */
  putRequests: number;
  getRequests: number;
}

export interface EvaluationStep {
  operation: string;
  times: number;
  /** Whether the step is a request through API Gateway (the archiver is invoked by S3's notification). */
  throughApiGateway: boolean;
}

/**
 * One evaluation: the API's submission POST of 5 files, the archiver run it triggers, the worker's archive GET, 3
 * exercise GETs and a result PUT, and the API's result GET. Every exercise GET is counted as the first in its function
 * instance (one S3 GET); one answered from memory costs none.
 */
export const EVALUATION: readonly EvaluationStep[] = [
  { operation: 'submission POST, 5 files', times: 1, throughApiGateway: true },
  { operation: 'archiver after the POST', times: 1, throughApiGateway: false },
  { operation: 'archive GET, current', times: 1, throughApiGateway: true },
  { operation: 'exercise GET', times: 3, throughApiGateway: true },
  { operation: 'result PUT', times: 1, throughApiGateway: true },
  { operation: 'result GET', times: 1, throughApiGateway: true },
];

/** US dollars per 1,000 evaluations, by what is billed, and the old server's month beside them. */
export interface Cost {
  apiGateway: number;
  lambdaRequests: number;
  lambdaCompute: number;
  s3Put: number;
  s3Get: number;
  total: number;
  oldServerMonthly: number;
  /** Evaluations a month at which the functions cost as much as the old server's instance. */
  breakEvenPerMonth: number;
}

/** The cost of 1,000 evaluations from the figures of the operations in `EVALUATION`. */
export function costOf(operations: readonly OperationCostInput[]): Cost {
  let apiCalls = 0;
  let invocations = 0;
  let gbSeconds = 0;
  let put = 0;
  let get = 0;
  for (const { operation, times, throughApiGateway } of EVALUATION) {
    const row = operations.find((r) => r.operation === operation);
    if (!row) throw new Error(`the cost needs ${operation}, which was not measured`);
    if (throughApiGateway) apiCalls += times;
    invocations += times;
    // Lambda's GB-seconds: the memory size in GB (1,024 MB) times the billed duration in seconds.
    gbSeconds += times * (row.billedMsP50 / 1000) * (row.memoryMb / 1024);
    put += times * row.putRequests;
    get += times * row.getRequests;
  }
  const n = 1000;
  const cost = {
    apiGateway: (n * apiCalls * PRICES.apiGateway.perMillionRequests) / 1e6,
    lambdaRequests: (n * invocations * PRICES.lambda.perMillionRequests) / 1e6,
    lambdaCompute: n * gbSeconds * PRICES.lambda.perGbSecond,
    s3Put: (n * put * PRICES.s3.perThousandPut) / 1000,
    s3Get: (n * get * PRICES.s3.perThousandGet) / 1000,
  };
  const total = Object.values(cost).reduce((a, b) => a + b, 0);
  const oldServerMonthly = PRICES.oldServer.perHour * PRICES.oldServer.hoursPerMonth;
  return { ...cost, total, oldServerMonthly, breakEvenPerMonth: (oldServerMonthly / total) * n };
}
