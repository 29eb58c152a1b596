/**
 * Local mode in one call: the embedded S3 server (or any endpoint from the environment), and the local API Gateway
 * stand-in running the handlers of `serverless.yml`. Used by `npm start` and by the integration tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { S3EventRecord } from 'aws-lambda';
import { httpHandlers, s3Handlers } from '../../functions/index';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from './embedded-s3';
import { loadRoutes, loadS3Triggers } from './routes';
import { createS3EventDispatcher } from './s3-events';
import { createLocalServer } from './server';

export const DEFAULT_BUCKET = 'recodex-fileserver';

export interface LocalStackOptions {
  host?: string;
  port?: number;
  /** Keep the embedded storage in this folder across runs; otherwise a temporary folder, deleted on close. */
  directory?: string;
  /** Environment to read S3_ENDPOINT, BUCKET, credentials etc. from; written back for the handlers. */
  env?: NodeJS.ProcessEnv;
}

export interface LocalStack {
  url: string;
  /** The S3 endpoint in use (embedded or configured). */
  s3Endpoint: string;
  bucket: string;
  embedded: EmbeddedS3 | undefined;
  /** Resolves when every S3-triggered handler started so far has finished. */
  notificationsIdle(): Promise<void>;
  /** Storage folder of the embedded server, if any. */
  directory: string | undefined;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const host = options.host ?? '127.0.0.1';
  let embedded: EmbeddedS3 | undefined;
  let directory: string | undefined;
  let temporary = false;
  env.BUCKET ||= DEFAULT_BUCKET;
  if (!env.S3_ENDPOINT) {
    temporary = options.directory === undefined;
    directory = options.directory ? resolve(options.directory) : await mkdtemp(join(tmpdir(), 'recodex-fileserver-'));
    embedded = await startEmbeddedS3({ directory, bucket: env.BUCKET, host });
    env.S3_ENDPOINT = embedded.endpoint;
    env.AWS_ACCESS_KEY_ID = EMBEDDED_S3_CREDENTIALS.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = EMBEDDED_S3_CREDENTIALS.secretAccessKey;
  }
  env.AWS_REGION ||= 'us-east-1';

  const serverlessYml = join(__dirname, '../../serverless.yml');
  const server = createLocalServer({ routes: loadRoutes(serverlessYml), handlers: httpHandlers });
  // S3 notifications (the archiver's trigger) come from the embedded server's events; another endpoint
  // (LocalStack without Lambda) sends none, and archives are then built on their first GET.
  const notifications = createS3EventDispatcher(loadS3Triggers(serverlessYml), s3Handlers);
  embedded?.server.on('event', (event: { Records?: S3EventRecord[] }) => notifications.dispatch(event));
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 9999, host, () => done());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}`,
    s3Endpoint: env.S3_ENDPOINT,
    bucket: env.BUCKET,
    embedded,
    directory,
    notificationsIdle: () => notifications.idle(),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
      await notifications.idle();
      if (embedded) await embedded.close();
      if (temporary && directory) await rm(directory, { recursive: true, force: true });
    },
  };
}
