import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';

/**
 * A port nothing listens on now: one the system just handed out on 127.0.0.1 and took back. It stays free only
 * until another process takes it, so a caller that binds it must cope with losing it (test/deployed/lambda-emulator.ts).
 */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as AddressInfo;
  await new Promise((done) => probe.close(done));
  return port;
}
