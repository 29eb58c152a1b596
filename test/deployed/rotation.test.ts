/**
 * Rotating the password with no failed request, as deployed (run by `npm run test:deployed`, test/deployed/run.ts):
 * the packaged status and exercise functions under the Lambda emulator read the SSM SecureString on LocalStack again
 * every CREDENTIALS_TTL_SECONDS (the template's `credentialsTtlSeconds`, 2 in the tier) while the API and a worker
 * keep sending requests (docs/deploy.md, "Rotating the password"; the procedure is test/support/rotation.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { type Client, rotatePassword, SLACK_MS } from '../support/rotation';

const gateway = process.env.DEPLOYED_GATEWAY_URL as string;
const parameter = process.env.DEPLOYED_CREDENTIALS_PARAMETER as string;
/** The credentials the tier stored; the other test files' client stand-in sends them. */
const tierCredentials = process.env.DEPLOYED_CREDENTIALS as string;
const ttlMs = Number(process.env.DEPLOYED_CREDENTIALS_TTL_SECONDS) * 1000;
const NEW = `re:${randomBytes(12).toString('base64url')}`;

let ssm: SSMClient;
const setParameter = async (value: string): Promise<void> => {
  await ssm.send(new PutParameterCommand({ Name: parameter, Type: 'SecureString', Value: value, Overwrite: true }));
};

const basic = (credentials: string) => ({ Authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
const EXERCISE = Buffer.from(`rotation input ${Date.now()}\n`);
const EXERCISE_SHA1 = createHash('sha1').update(EXERCISE).digest('hex');

/** The API asks the status function, a worker the exercise function: two instances, each reading on its own. */
const status = async (client: Client, credentials: string): Promise<number> => {
  const path = client === 'api' ? '/' : `/exercises/${EXERCISE_SHA1}`;
  return (await send(gateway, 'GET', path, { headers: basic(credentials) })).status;
};

beforeAll(async () => {
  if (!gateway || !parameter || !tierCredentials || !ttlMs) {
    throw new Error('run by npm run test:deployed (test/deployed/run.ts), which sets the DEPLOYED_* variables');
  }
  ssm = new SSMClient({ endpoint: process.env.DEPLOYED_S3_ENDPOINT, region: process.env.AWS_REGION });
  const { body, contentType } = multipart([file('input.txt', EXERCISE)]);
  const stored = await send(gateway, 'POST', '/exercises', {
    body,
    headers: { ...basic(tierCredentials), 'Content-Type': contentType },
  });
  expect(stored.status).toBe(200);
});

afterAll(async () => {
  // Back to the tier's credentials, which the other files' client stand-in sends, once every instance has read them.
  await setParameter(tierCredentials);
  await new Promise((done) => setTimeout(done, ttlMs + SLACK_MS));
  ssm.destroy();
});

it('accepts both lines while the password is rotated, refuses the old one after the TTL, and refuses no request in between', async () => {
  expect(await status('api', tierCredentials)).toBe(200);
  expect(await status('worker', tierCredentials)).toBe(200);
  expect(await status('api', NEW)).toBe(401);
  const report = await rotatePassword({ request: status, setParameter, ttlMs }, tierCredentials, NEW);
  expect(report.refused).toEqual([]);
  expect(report.sent).toBeGreaterThan(20);
  expect(report.newAcceptedAfterTtl).toBe(true);
  expect(report.oldRefusedAfterMs).toBeLessThanOrEqual(ttlMs + SLACK_MS);
  expect(report.oldStaysRefused).toBe(true);
});
