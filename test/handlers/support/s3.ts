/**
 * The embedded S3 server (s3rver over a temporary folder) for one test file, and the environment the handlers read
 * on first use. Call at the top of a test file, before any handler runs: config and the S3 client are read lazily
 * and memoised per test file.
 */
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from '../../../lib/local/embedded-s3';
import { bucketView } from '../../support/bucket-view';

export const BUCKET = 'handler-tests';

export interface TestBucket {
  /** The embedded server's base URL, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  /** A client of our own, to see what the handlers did or did not write. */
  readonly client: S3Client;
  /** Every key under `prefix`, sorted. */
  keys(prefix?: string): Promise<string[]>;
  /** Whether an object exists at `key`. */
  exists(key: string): Promise<boolean>;
  /**
   * Makes the object at `key` (a plain key) look `ms` older: its Last-Modified is the modification time of
   * s3rver's file for it, which is moved back.
   */
  age(key: string, ms: number): Promise<void>;
}

export function useEmbeddedS3(env: Record<string, string> = {}): TestBucket {
  let directory: string | undefined;
  let server: EmbeddedS3 | undefined;
  let client: S3Client | undefined;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'handler-tests-'));
    server = await startEmbeddedS3({ directory, bucket: BUCKET });
    Object.assign(process.env, {
      BUCKET,
      S3_ENDPOINT: server.endpoint,
      AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      ...env,
    });
    client = new S3Client({
      endpoint: server.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: EMBEDDED_S3_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });

  afterAll(async () => {
    client?.destroy();
    await server?.close();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  const started = (): { server: EmbeddedS3; client: S3Client } => {
    if (!server || !client) throw new Error('The embedded S3 server is not running; use it inside tests only.');
    return { server, client };
  };

  return {
    get endpoint() {
      return started().server.endpoint;
    },
    get client() {
      return started().client;
    },
    ...bucketView(() => started().client, BUCKET),
    async age(key, ms) {
      if (!directory) throw new Error('The embedded S3 server is not running.');
      const parts = key.split('/');
      const file = join(directory, BUCKET, ...parts.slice(0, -1), `${parts.at(-1)}._S3rver_object`);
      const then = new Date(Date.now() - ms);
      await utimes(file, then, then);
    },
  };
}
