/**
 * The figures of the fault, concurrency and hostile-input suites, counted as the tests run: HTTP requests made and
 * the error statuses clients saw, S3 requests and injected faults (from the fault proxy), stored objects and reads
 * checked byte for byte, and every bad input with its answer. With FAULT_REPORT_DIR set, each suite writes its
 * figures there as JSON; `npx tsx test/faults/report.ts <dir>` turns them into the README's table.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProxyStats } from '../../support/fault-proxy';
import { type RawAnswer, send } from '../../support/http';
import { readZip } from '../../support/zip';

export interface Figures {
  suite: string;
  clientRequests: number;
  /** HTTP status → how many answers had it (≥ 400 only). */
  clientErrors: Record<string, number>;
  s3Requests: number;
  faults: Record<string, number>;
  /** Objects whose survival was checked (a stored submission, a previous result), and how many were gone. */
  objectsChecked: number;
  dataLost: number;
  /** Reads compared byte for byte with what was written, and how many differed. */
  readsChecked: number;
  corruptedReads: number;
  badInputs: { input: string; answer: string }[];
}

export interface Tally {
  readonly figures: Figures;
  /** `send` from test/support/http.ts, counted. */
  send(...args: Parameters<typeof send>): Promise<RawAnswer>;
  /** Counts a request made on a raw connection, and the statuses it was answered with. */
  sentRaw(statuses: readonly number[]): void;
  /** Counts a read and asserts its bytes are exactly `expected`. */
  expectBytes(actual: Buffer, expected: Buffer | string): void;
  /** Counts an object that must have survived and asserts that it did. */
  expectKept(present: boolean): void;
  /**
   * Checks a submission archive (prefixed layout): every acknowledged file is in it (counted as kept or lost) with
   * exactly its bytes (counted as a read), and nothing else is.
   */
  expectArchive(zip: Buffer, id: string, files: Record<string, string | Buffer>): Promise<void>;
  /** Records a bad input and the answer it got. */
  badInput(input: string, answer: RawAnswer | string): void;
  /** Adds the proxy's counts and writes the figures (only with FAULT_REPORT_DIR). */
  write(proxy?: ProxyStats): void;
}

export function createTally(suite: string): Tally {
  const figures: Figures = {
    suite,
    clientRequests: 0,
    clientErrors: {},
    s3Requests: 0,
    faults: {},
    objectsChecked: 0,
    dataLost: 0,
    readsChecked: 0,
    corruptedReads: 0,
    badInputs: [],
  };
  return {
    figures,
    async send(...args) {
      figures.clientRequests++;
      const answer = await send(...args);
      if (answer.status >= 400) figures.clientErrors[answer.status] = (figures.clientErrors[answer.status] ?? 0) + 1;
      return answer;
    },
    sentRaw(statuses) {
      figures.clientRequests++;
      for (const status of statuses) {
        if (status >= 400) figures.clientErrors[status] = (figures.clientErrors[status] ?? 0) + 1;
      }
    },
    expectBytes(actual, expected) {
      const want = Buffer.from(expected);
      figures.readsChecked++;
      if (!actual.equals(want)) figures.corruptedReads++;
      expect(actual.equals(want)).toBe(true);
    },
    expectKept(present) {
      figures.objectsChecked++;
      if (!present) figures.dataLost++;
      expect(present).toBe(true);
    },
    async expectArchive(zip, id, files) {
      const entries = new Map((await readZip(zip)).map((entry) => [entry.name, entry.data]));
      for (const [path, data] of Object.entries(files)) {
        const got = entries.get(`${id}/${path}`);
        this.expectKept(got !== undefined);
        this.expectBytes(got ?? Buffer.alloc(0), data);
      }
      expect([...entries.keys()].sort()).toEqual(
        Object.keys(files)
          .map((path) => `${id}/${path}`)
          .sort(),
      );
    },
    badInput(input, answer) {
      const text = typeof answer === 'string' ? answer : `${answer.status} ${errorCode(answer) ?? ''}`.trim();
      figures.badInputs.push({ input, answer: text });
    },
    write(proxy) {
      if (proxy) {
        figures.s3Requests = Object.values(proxy.requests).reduce((sum, n) => sum + (n ?? 0), 0);
        for (const [kind, n] of Object.entries(proxy.injected)) figures.faults[kind] = n ?? 0;
      }
      const dir = process.env.FAULT_REPORT_DIR;
      if (dir) writeFileSync(join(dir, `${suite}.json`), `${JSON.stringify(figures, null, 2)}\n`);
    },
  };
}

function errorCode(answer: RawAnswer): string | undefined {
  try {
    return answer.json<{ error?: { code?: string } }>().error?.code;
  } catch {
    return undefined;
  }
}
