/**
 * The deployment's credentials path for real: the handler reads `username:password` from an SSM SecureString
 * (LocalStack's SSM here, through the SDK's standard AWS_ENDPOINT_URL setting) at its first request.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import type { APIGatewayProxyEvent } from 'aws-lambda';

const NAME = `/recodex/test/credentials-${Date.now()}`;
let ssm: SSMClient;

beforeAll(async () => {
  const endpoint = process.env.S3_ENDPOINT;
  if (!endpoint) throw new Error('S3_ENDPOINT must point at LocalStack (npm run test:localstack)');
  process.env.AWS_ENDPOINT_URL = endpoint;
  process.env.CREDENTIALS_PARAMETER = NAME;
  ssm = new SSMClient({ endpoint, region: process.env.AWS_REGION });
  await ssm.send(new PutParameterCommand({ Name: NAME, Type: 'SecureString', Value: 're:s3cret:with:colons' }));
  // The status page answers 200 only when its bucket exists.
  const s3 = new S3Client({ endpoint, forcePathStyle: true, region: process.env.AWS_REGION });
  await s3.send(new CreateBucketCommand({ Bucket: process.env.BUCKET }));
  s3.destroy();
});

afterAll(async () => {
  await ssm.send(new DeleteParameterCommand({ Name: NAME }));
  ssm.destroy();
});

const event = (authorization?: string): APIGatewayProxyEvent =>
  ({
    httpMethod: 'GET',
    path: '/',
    resource: '/',
    headers: authorization ? { Authorization: authorization } : {},
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'test' },
  }) as unknown as APIGatewayProxyEvent;

const basic = (value: string): string => `Basic ${Buffer.from(value).toString('base64')}`;

it('accepts exactly the credentials stored in the SSM parameter', async () => {
  const { handler } = await import('../../functions/status');
  expect((await handler(event(basic('re:s3cret:with:colons')))).statusCode).toBe(200);
  for (const wrong of [undefined, basic('re:codex'), basic('re:s3cret'), basic('other:s3cret:with:colons')]) {
    const answer = await handler(event(wrong));
    expect(answer.statusCode).toBe(401);
    expect(answer.headers?.['WWW-Authenticate']).toBe('Basic realm="ReCodEx fileserver"');
  }
});
