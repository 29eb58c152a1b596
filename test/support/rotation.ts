/**
 * A password rotation as docs/deploy.md, "Rotating the password", tells an operator to do it, with the ReCodEx API and
 * a worker sending requests all the while, each with the password it is configured with:
 *
 * 1. add the new line to the parameter (old and new);
 * 2. wait for the TTL: from then on every instance accepts both;
 * 3. switch the API, then the worker, to the new password;
 * 4. remove the old line: after the TTL the old password is refused everywhere.
 *
 * Used against `npm start` with LocalStack's SSM (test/localstack/credentials-rotation.test.ts) and in the "as
 * deployed" tier (test/deployed/rotation.test.ts). Bounded: every loop stops with the rotation, every wait has a
 * deadline.
 */

export type Client = 'api' | 'worker';

export interface RotationTarget {
  /** Sends one request of `client` (each may reach another function) with `credentials`; answers its status. */
  request(client: Client, credentials: string): Promise<number>;
  /** Writes the credentials parameter. */
  setParameter(value: string): Promise<void>;
  /** CREDENTIALS_TTL_SECONDS of the instances, in ms. */
  ttlMs: number;
}

export interface RotationReport {
  /** The requests of the two clients during the rotation, and those not answered 200 (there must be none). */
  sent: number;
  refused: { client: Client; credentials: 'old' | 'new'; status: number; atMs: number }[];
  /** Whether each client's new password was accepted once the TTL had passed after step 1. */
  newAcceptedAfterTtl: boolean;
  /** How long after step 4 the old password was refused by both clients' routes (undefined: not in TTL + slack). */
  oldRefusedAfterMs: number | undefined;
  /** Whether the old password stayed refused (401) once it was. */
  oldStaysRefused: boolean;
}

/** Time beyond the TTL for an instance to read the parameter again and a request to reach it, on a busy machine. */
export const SLACK_MS = 3_000;
/** Pause between one client's requests. */
const PAUSE_MS = 50;
const CLIENTS: readonly Client[] = ['api', 'worker'];

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function rotatePassword(
  target: RotationTarget,
  oldCredentials: string,
  newCredentials: string,
): Promise<RotationReport> {
  const started = Date.now();
  const report: RotationReport = {
    sent: 0,
    refused: [],
    newAcceptedAfterTtl: false,
    oldRefusedAfterMs: undefined,
    oldStaysRefused: false,
  };
  const using: Record<Client, string> = { api: oldCredentials, worker: oldCredentials };
  const statusesWith = async (credentials: string) =>
    Promise.all(CLIENTS.map((client) => target.request(client, credentials)));
  let running = true;
  const loop = async (client: Client) => {
    // At most one request per PAUSE_MS, for as long as the rotation runs (itself bounded below).
    while (running) {
      const credentials = using[client];
      const status = await target.request(client, credentials);
      report.sent++;
      if (status !== 200) {
        const which = credentials === oldCredentials ? 'old' : 'new';
        report.refused.push({ client, credentials: which, status, atMs: Date.now() - started });
      }
      await sleep(PAUSE_MS);
    }
  };
  const loops = CLIENTS.map(loop);
  try {
    await sleep(PAUSE_MS * 4);
    // 1. Add the new line.
    await target.setParameter(`${oldCredentials}\n${newCredentials}`);
    // 2. Wait for the TTL.
    await sleep(target.ttlMs + SLACK_MS);
    report.newAcceptedAfterTtl = (await statusesWith(newCredentials)).every((status) => status === 200);
    // 3. Switch the API, then the worker.
    using.api = newCredentials;
    await sleep(PAUSE_MS * 4);
    using.worker = newCredentials;
    await sleep(PAUSE_MS * 4);
    // 4. Remove the old line; the old password is refused within the TTL.
    await target.setParameter(newCredentials);
    const removed = Date.now();
    while (Date.now() - removed < target.ttlMs + SLACK_MS) {
      if ((await statusesWith(oldCredentials)).every((status) => status === 401)) {
        report.oldRefusedAfterMs = Date.now() - removed;
        break;
      }
      await sleep(PAUSE_MS);
    }
    if (report.oldRefusedAfterMs !== undefined) {
      const again = [];
      for (let i = 0; i < 3; i++) again.push(...(await statusesWith(oldCredentials)));
      report.oldStaysRefused = again.every((status) => status === 401);
    }
  } finally {
    running = false;
    await Promise.all(loops);
  }
  return report;
}
