/**
 * The depth of an operation: the longest chain of S3 requests it makes one after another, each waiting for an answer
 * before it is sent. In AWS that chain, times tens of milliseconds per request, is the operation's latency
 * (docs/benchmarks.md, "S3 round trips in a row"). It is counted, not timed, in rounds:
 *
 * every call to the storage boundary (lib/storage/store.ts) is held until no new call has come for one turn of the
 * event loop; then the calls held go to the store together, as one round, and their answers come back together (an
 * answer's body read whole first), so whatever they start is sent in the next round. The depth is the number of
 * rounds. A call sent only after some other work that takes more than one turn (a zip, a read from the disk) lands
 * in a round of its own: the count is strict.
 *
 * With the fault proxy in front of S3 (test/support/fault-proxy.ts), every round is also checked on the wire: the
 * proxy holds each of its requests until all of them have arrived, so a round that the client cannot put on the wire
 * at once (too few sockets) shows as a round that was not all at once, instead of as a timing.
 */
import { Readable } from 'node:stream';
import type { ObjectStore } from '../../lib/storage/object-store';
import { store, useStore } from '../../lib/storage/store';
import type { FaultProxy } from './fault-proxy';

/** The store calls that send a request to the store; the others (presigning, reading an answer's body) send none. */
const REQUESTS = new Set<string>([
  'putObject',
  'uploadStream',
  'headObject',
  'getObject',
  'listObjects',
  'deleteObject',
  'bucketReachable',
]);

/**
 * How long the proxy waits for the rest of a round's requests before it lets the ones it holds go: far more than a
 * client that sends them at once needs, and less than the S3 client's 5 s request timeout (lib/storage/s3/s3-client.ts),
 * which would otherwise retry them. Reached only when a round is not all on the wire at once, which then fails.
 */
const WIRE_WAIT_MS = 2_000;

export interface Depth {
  /** Rounds of store calls: the longest chain of requests one after another. */
  depth: number;
  /** Store calls, each one request. */
  calls: number;
  /** The most calls in one round. */
  widest: number;
  /** Whether every round's requests were all held at the proxy at once (true without a proxy). */
  allAtOnce: boolean;
}

export interface DepthMeter {
  /** Runs `run` and counts its rounds; nothing else may call the store meanwhile. */
  measure(run: () => Promise<unknown>): Promise<Depth>;
  /** Puts the store back as it was. */
  remove(): void;
}

interface Held {
  send: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

export function meterDepth(options: { wire?: FaultProxy } = {}): DepthMeter {
  const inner = store();
  let held: Held[] = [];
  let arrivedSinceCheck = false;
  let checking = false;
  let tally: Depth = { depth: 0, calls: 0, widest: 0, allAtOnce: true };
  const wire = wireBarrier(options.wire);

  const release = async (): Promise<void> => {
    const round = held;
    held = [];
    tally.depth++;
    tally.calls += round.length;
    tally.widest = Math.max(tally.widest, round.length);
    wire.expect(round.length);
    const answers = await Promise.allSettled(round.map((call) => call.send()));
    if (!wire.settle()) tally.allAtOnce = false;
    // All answers handed back in one go, so the calls they lead to are sent together, in the next round.
    answers.forEach((answer, i) => {
      const call = round[i] as Held;
      if (answer.status === 'fulfilled') call.resolve(answer.value);
      else call.reject(answer.reason);
    });
  };
  const check = (): void => {
    if (arrivedSinceCheck) {
      arrivedSinceCheck = false;
      setImmediate(check);
      return;
    }
    checking = false;
    void release();
  };
  const hold = (send: () => Promise<unknown>): Promise<unknown> =>
    new Promise((resolve, reject) => {
      held.push({ send, resolve, reject });
      arrivedSinceCheck = true;
      if (!checking) {
        checking = true;
        setImmediate(check);
      }
    });

  const metered = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function' || !REQUESTS.has(String(property))) return value;
      return (...args: unknown[]) =>
        hold(async () => {
          const answer = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          return property === 'getObject' ? readWhole(answer as Awaited<ReturnType<ObjectStore['getObject']>>) : answer;
        });
    },
  });
  useStore(metered);
  return {
    async measure(run) {
      tally = { depth: 0, calls: 0, widest: 0, allAtOnce: true };
      await run();
      return tally;
    },
    remove() {
      useStore(inner);
      options.wire?.holdWith(undefined);
    },
  };
}

/** An object's answer with its body read whole first, so that reading it takes no turn of the event loop. */
async function readWhole(
  object: Awaited<ReturnType<ObjectStore['getObject']>>,
): Promise<Awaited<ReturnType<ObjectStore['getObject']>>> {
  if (!object) return object;
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) chunks.push(chunk as Buffer);
  return { ...object, body: Readable.from([Buffer.concat(chunks)]) };
}

/**
 * The proxy's side: a round of n requests is held until all n have arrived. A request outside any round (one the
 * test sends itself) passes.
 */
function wireBarrier(proxy: FaultProxy | undefined): { expect(n: number): void; settle(): boolean } {
  let expected = 0;
  let arrived = 0;
  let complete = true;
  let waiting: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  const open = (): void => {
    clearTimeout(timer);
    timer = undefined;
    for (const go of waiting) go();
    waiting = [];
  };
  proxy?.holdWith(async () => {
    if (expected === 0 || arrived >= expected) return;
    arrived++;
    if (arrived === expected) {
      open();
      return;
    }
    timer ??= setTimeout(() => {
      complete = false;
      open();
    }, WIRE_WAIT_MS);
    await new Promise<void>((go) => waiting.push(go));
  });
  return {
    expect(n) {
      expected = proxy ? n : 0;
      arrived = 0;
      complete = true;
    },
    settle() {
      const all = complete && (expected === 0 || arrived >= expected);
      expected = 0;
      open();
      return all;
    },
  };
}
