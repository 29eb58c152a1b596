/**
 * What `npm run bench:deployed` reads and computes (bench/deployed.ts): the emulator's REPORT lines, and the cost of
 * 1,000 evaluations from the measured figures, checked by hand.
 */
import { costOf, EVALUATION, type OperationCostInput, PRICES } from '../../bench/deployed-cost';
import { parseReport } from '../deployed/lambda-emulator';

describe('the REPORT line of an invocation', () => {
  it('gives the duration, the billed duration and the memory size, and the init duration of a cold start', () => {
    // As the Runtime Interface Emulator prints it (internal/lambda/rie/handlers.go, printEndReports).
    const cold =
      'REPORT RequestId: 4b7d\tInit Duration: 0.42 ms\tDuration: 73.51 ms\tBilled Duration: 74 ms\tMemory Size: 512 MB\tMax Memory Used: 512 MB\t';
    expect(parseReport(cold)).toEqual({
      requestId: '4b7d',
      initMs: 0.42,
      durationMs: 73.51,
      billedMs: 74,
      memorySizeMb: 512,
    });
    const warm =
      'REPORT RequestId: 9c1e\tDuration: 3.20 ms\tBilled Duration: 4 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t';
    expect(parseReport(warm)).toEqual({ requestId: '9c1e', durationMs: 3.2, billedMs: 4, memorySizeMb: 256 });
  });

  it('is not read from other lines', () => {
    expect(parseReport('START RequestId: 4b7d Version: $LATEST')).toBeUndefined();
    expect(parseReport('END RequestId: 4b7d')).toBeUndefined();
  });
});

describe('the cost of 1,000 evaluations', () => {
  const row = (operation: string, memoryMb: number, billedMsP50: number, put: number, get: number) => ({
    operation,
    memoryMb,
    billedMsP50,
    putRequests: put,
    getRequests: get,
  });
  // 100 ms at 1,024 MB is 0.1 GB-s per invocation, whatever the operation.
  const figures: OperationCostInput[] = EVALUATION.map((step) => row(step.operation, 1024, 100, 1, 1));

  it('counts API Gateway for the requests through it, Lambda for every invocation, S3 by its two prices', () => {
    const cost = costOf(figures);
    const invocations = EVALUATION.reduce((sum, step) => sum + step.times, 0); // 8
    const apiCalls = invocations - 1; // the archiver is invoked by S3
    expect(invocations).toBe(8);
    expect(cost.apiGateway).toBeCloseTo((1000 * apiCalls * 3.5) / 1e6, 12);
    expect(cost.lambdaRequests).toBeCloseTo((1000 * invocations * 0.2) / 1e6, 12);
    expect(cost.lambdaCompute).toBeCloseTo(1000 * invocations * 0.1 * 0.0000166667, 12);
    expect(cost.s3Put).toBeCloseTo((1000 * invocations * 0.005) / 1000, 12);
    expect(cost.s3Get).toBeCloseTo((1000 * invocations * 0.0004) / 1000, 12);
    expect(cost.total).toBeCloseTo(
      cost.apiGateway + cost.lambdaRequests + cost.lambdaCompute + cost.s3Put + cost.s3Get,
      12,
    );
  });

  it('sets the old server beside it: a month of its instance, and the evaluations that cost as much', () => {
    const cost = costOf(figures);
    expect(cost.oldServerMonthly).toBeCloseTo(0.0208 * 730, 10);
    expect((cost.breakEvenPerMonth / 1000) * cost.total).toBeCloseTo(cost.oldServerMonthly, 8);
    expect(PRICES.oldServer.instance).toBe('t3.small');
  });

  it('refuses figures that lack an operation of the evaluation', () => {
    expect(() => costOf(figures.filter((f) => f.operation !== 'result GET'))).toThrow(/result GET/);
  });
});
