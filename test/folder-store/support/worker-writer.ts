/**
 * A worker process of a shared folder store (lib/storage/folder-store/folder.ts, `workerOf`), for test/folder-store/
 * workers.test.ts: it opens the store as a worker of the test process, says `ready`, and on `go` (stdin) makes
 * every write of the plan at once: create-only writes of `race/<i>`, `If-Match` writes of `match/<i>` over the
 * version the test wrote. It prints what each write got, as one JSON line.
 */
import { createInterface } from 'node:readline';
import { FolderStore } from '../../../lib/storage/folder-store/folder-store';
import { PreconditionFailed } from '../../../lib/storage/object-store';

export interface WriterPlan {
  directory: string;
  owner: number;
  keys: number;
  /** The ETag each `match/<i>` has before the race. */
  etags: string[];
}

export interface WriterReport {
  pid: number;
  /** Per key: whether this process's write went through. */
  created: boolean[];
  matched: boolean[];
}

async function attempt(write: () => Promise<unknown>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (err) {
    if (err instanceof PreconditionFailed) return false;
    throw err;
  }
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  const iterator = lines[Symbol.asyncIterator]();
  const plan = JSON.parse((await iterator.next()).value as string) as WriterPlan;
  const store = await FolderStore.open({ directory: plan.directory, bucket: 'workers', workerOf: plan.owner });
  console.log('ready');
  await iterator.next(); // go
  const body = (what: string, i: number): Buffer => Buffer.from(`${what} ${i} by ${process.pid}`);
  const indexes = [...Array(plan.keys).keys()];
  const [created, matched] = await Promise.all([
    Promise.all(indexes.map((i) => attempt(() => store.putObject(`race/${i}`, body('race', i), { createOnly: true })))),
    Promise.all(
      indexes.map((i) =>
        attempt(() => store.putObject(`match/${i}`, body('match', i), { ifMatch: plan.etags[i] as string })),
      ),
    ),
  ]);
  await store.close();
  const report: WriterReport = { pid: process.pid, created, matched };
  console.log(JSON.stringify(report));
  lines.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
