// The S3 endpoint of `npm run test:localstack` (scripts/localstack-host.sh), and a fresh bucket per test file.
import { randomBytes } from 'node:crypto';

process.env.S3_ENDPOINT ??= 'http://127.0.0.1:4566';
process.env.AWS_ACCESS_KEY_ID ??= 'test';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
process.env.AWS_REGION ??= 'us-east-1';
// LocalStack on the host sends no S3 notifications, so every archive is built by its GET: as the README advises for
// such an S3, the on-demand bound in files is raised (the 1,200-file submission of faithful-s3.test.ts).
process.env.ARCHIVE_ON_DEMAND_MAX_FILES ??= '10000';
process.env.BUCKET = `fileserver-it-${Date.now()}-${randomBytes(3).toString('hex')}`;
