/**
 * What localstack/init/ready.d/10-fileserver.sh does inside the LocalStack container, for LocalStack on the host
 * (scripts/localstack-host.sh start): the bucket of `npm start` with S3_ENDPOINT, and the SSM SecureString a
 * `--stage local` deployment reads its Basic credentials from. With the project's own SDK, so no aws CLI is needed;
 * idempotent, so a second start (or a LocalStack that already has both) is fine.
 *
 *   tsx scripts/localstack-ready.ts http://127.0.0.1:4566
 */
import { BucketAlreadyOwnedByYou, CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';

const CREDENTIALS_PARAMETER = '/recodex/fileserver/credentials';

async function main(endpoint: string | undefined): Promise<void> {
  if (!endpoint) throw new Error('usage: tsx scripts/localstack-ready.ts <LocalStack endpoint>');
  const bucket = process.env.FILESERVER_BUCKET || 'recodex-fileserver';
  const options = {
    endpoint,
    region: process.env.AWS_REGION || 'us-east-1',
    // LocalStack accepts any key pair; these are its documented defaults, not secrets.
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'test',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'test',
    },
  };
  const s3 = new S3Client({ ...options, forcePathStyle: true });
  const ssm = new SSMClient(options);
  try {
    try {
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if (!(err instanceof BucketAlreadyOwnedByYou)) throw err;
    }
    await ssm.send(
      new PutParameterCommand({
        Name: CREDENTIALS_PARAMETER,
        Type: 'SecureString',
        Value: process.env.FILESERVER_CREDENTIALS || 're:codex',
        Overwrite: true,
      }),
    );
  } finally {
    s3.destroy();
    ssm.destroy();
  }
  console.error(`localstack:host: bucket ${bucket} and ${CREDENTIALS_PARAMETER} are ready`);
}

main(process.argv[2]).catch((err: unknown) => {
  console.error(
    `localstack:host: could not create the bucket or the parameter: ${err instanceof Error ? err.message : err}`,
  );
  process.exit(1);
});
