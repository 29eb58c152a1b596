/**
 * `npm start --workers N` (N > 1): a primary that holds the folder store's folder (lib/storage/folder-store/folder.ts) and
 * forks N workers (Node's cluster module), each a whole local stack (lib/local/serve.ts) on the one shared port. The
 * primary serves nothing and loads neither the handlers nor the AWS SDK. What holds across the workers and why is
 * in docs/embedded-store.md, "Several processes".
 *
 * - The listening socket is the primary's; on Linux the cluster module hands each new connection to the next worker
 *   in turn (round-robin), so a keep-alive connection stays with one worker.
 * - Each worker's store announces its own writes to its own archiver, once per write, as one process does.
 * - A worker that dies is logged and replaced; the key locks it held are removed first. A worker that fails to start
 *   stops the whole server (a fault that a restart would only repeat).
 * - SIGINT/SIGTERM stop every worker, then release the folder and delete it if it is temporary.
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clearKeyLocksOf, releaseFolder, takeFolder } from '../storage/folder-store/folder';
import { log } from '../util/log';
import type { ReadyMessage } from './serve';
import { startLines } from './start-lines';

export interface PrimaryOptions {
  workers: number;
  directory: string | undefined;
  fsync: boolean;
  /** The command-line arguments the workers get (they parse them as the primary did). */
  args: readonly string[];
  /** Called once every worker serves; returns the function that stops them all. */
  onServing(stop: (signal: string) => void): void;
}

/** How long the workers get to finish their archive builds on a stop before they are killed. */
const STOP_GRACE_MS = 30_000;

export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const folderStore = !process.env.S3_ENDPOINT;
  const temporary = folderStore && options.directory === undefined;
  let directory: string | undefined;
  if (folderStore) {
    directory = options.directory ? resolve(options.directory) : await mkdtemp(join(tmpdir(), 'recodex-fileserver-'));
    try {
      await takeFolder(directory, { forWorkers: true });
    } catch (err) {
      if (temporary) await rm(directory, { recursive: true, force: true });
      throw err;
    }
  }
  // The workers run this script with these arguments; the folder is the one the primary holds.
  cluster.setupPrimary({ args: [...options.args, ...(directory ? ['--directory', directory] : [])] });

  const ready = new Set<Worker>();
  let stopping = false;
  let started = false;
  let exitCode = 0;

  const release = async (): Promise<void> => {
    if (!directory) return;
    await releaseFolder(directory);
    if (temporary) await rm(directory, { recursive: true, force: true });
  };

  const stopAll = async (code: number): Promise<never> => {
    stopping = true;
    exitCode = Math.max(exitCode, code);
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((done) => {
            if (worker.isDead()) return done();
            const timer = setTimeout(() => worker.process.kill('SIGKILL'), STOP_GRACE_MS);
            worker.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            if (worker.isConnected()) worker.send({ type: 'stop' });
            else worker.process.kill('SIGKILL');
          }),
      ),
    );
    await release();
    process.exit(exitCode);
  };

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('message', (message: ReadyMessage) => {
      if (message?.type !== 'ready') return;
      ready.add(worker);
      if (started) log('info', 'worker replaced', { pid: worker.process.pid });
      if (!started && ready.size === options.workers) {
        started = true;
        for (const line of startLines({ ...message, temporary, fsync: options.fsync, workers: options.workers })) {
          console.log(line);
        }
        options.onServing((signal) => {
          console.log(`${signal}: shutting down`);
          void stopAll(0);
        });
      }
    });
    worker.on('exit', (code, signal) => {
      const wasReady = ready.delete(worker);
      if (stopping) return;
      const pid = worker.process.pid as number;
      const locks = directory ? clearKeyLocksOf(directory, pid) : [];
      if (!wasReady) {
        // Its own error message is on stderr already.
        console.error(`A worker (pid ${pid}) exited with ${signal ?? code} before it served; stopping.`);
        void stopAll(1);
        return;
      }
      log('error', 'worker exited; starting another', { pid, code, signal, keyLocksCleared: locks.length });
      fork();
    });
    return worker;
  };
  for (let i = 0; i < options.workers; i++) fork();
}
