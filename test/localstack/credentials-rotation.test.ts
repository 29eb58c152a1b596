/**
 * Rotating the password with no failed request, end to end against `npm start` as a user runs it: the credentials
 * in an SSM SecureString on LocalStack's SSM (found through the SDK's own AWS_ENDPOINT_URL_SSM), read again every
 * CREDENTIALS_TTL_SECONDS (2 here), while the API and a worker keep sending requests (docs/deploy.md, "Rotating the
 * password"; the procedure is test/support/rotation.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { type RunningServer, startCli } from '../support/cli';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { type Client, rotatePassword, SLACK_MS } from '../support/rotation';

const NAME = `/recodex/test/rotation-${Date.now()}`;
const TTL_SECONDS = 2;
const OLD = `re:${randomBytes(9).toString('base64url')}`;
const NEW = `re:${randomBytes(9).toString('base64url')}`;

let ssm: SSMClient;
let server: RunningServer | undefined;

const endpoint = (): string => {
  const url = process.env.S3_ENDPOINT;
  if (!url) throw new Error('S3_ENDPOINT must point at LocalStack (npm run test:localstack)');
  return url;
};

const setParameter = async (value: string): Promise<void> => {
  await ssm.send(new PutParameterCommand({ Name: NAME, Type: 'SecureString', Value: value, Overwrite: true }));
};

beforeAll(async () => {
  ssm = new SSMClient({ endpoint: endpoint(), region: process.env.AWS_REGION });
  await setParameter(OLD);
  server = await startCli([], {
    CREDENTIALS_PARAMETER: NAME,
    CREDENTIALS_TTL_SECONDS: String(TTL_SECONDS),
    // The SDK's setting for one service's endpoint: SSM on LocalStack, storage on the folder store.
    AWS_ENDPOINT_URL_SSM: endpoint(),
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
    LOG_LEVEL: 'error',
  });
});

afterAll(async () => {
  await server?.stop();
  await ssm.send(new DeleteParameterCommand({ Name: NAME })).catch(() => undefined);
  ssm.destroy();
});

const basic = (credentials: string) => ({ Authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
const EXERCISE = Buffer.from(`test input ${Date.now()}\n`);
const EXERCISE_SHA1 = createHash('sha1').update(EXERCISE).digest('hex');

/** The API asks for the status page, a worker for an exercise file. */
const status = async (client: Client, credentials: string): Promise<number> => {
  const path = client === 'api' ? '/' : `/exercises/${EXERCISE_SHA1}`;
  return (await send((server as RunningServer).url, 'GET', path, { headers: basic(credentials) })).status;
};

it('accepts both lines while the password is rotated, refuses the old one after the TTL, and refuses no request in between', async () => {
  const { body, contentType } = multipart([file('input.txt', EXERCISE)]);
  const stored = await send((server as RunningServer).url, 'POST', '/exercises', {
    body,
    headers: { ...basic(OLD), 'Content-Type': contentType },
  });
  expect(stored.status).toBe(200);
  expect(await status('worker', OLD)).toBe(200);
  expect(await status('api', NEW)).toBe(401);
  const report = await rotatePassword({ request: status, setParameter, ttlMs: TTL_SECONDS * 1000 }, OLD, NEW);
  expect(report.refused).toEqual([]);
  expect(report.sent).toBeGreaterThan(20);
  expect(report.newAcceptedAfterTtl).toBe(true);
  expect(report.oldRefusedAfterMs).toBeLessThanOrEqual(TTL_SECONDS * 1000 + SLACK_MS);
  expect(report.oldStaysRefused).toBe(true);
  expect(await status('api', NEW)).toBe(200);
}, 60_000);

it('keeps serving with the last value it read while SSM fails, and logs the failed read', async () => {
  // The parameter is deleted: every read fails (ParameterNotFound), the instance keeps what it read.
  await ssm.send(new DeleteParameterCommand({ Name: NAME }));
  await new Promise((done) => setTimeout(done, TTL_SECONDS * 1000 + 500));
  for (let i = 0; i < 3; i++) expect(await status('api', NEW)).toBe(200);
  expect(await status('worker', OLD)).toBe(401);
  const output = (server as RunningServer).output();
  expect(output).toContain(
    '"message":"credentials: reading the parameter again failed; the value read before is kept"',
  );
  expect(output).toContain('ParameterNotFound');
  for (const secret of [OLD, NEW]) expect(output).not.toContain(secret.slice(3));
}, 30_000);
