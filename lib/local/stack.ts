/**
 * Local mode in one call: the folder store (or the S3-compatible endpoint in S3_ENDPOINT), and the local API Gateway
 * stand-in running the handlers of `serverless.yml`. Used by `npm start` and by the integration tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { S3EventRecord } from 'aws-lambda';
import { authenticate } from '../http/auth';
import { LOCAL_BUCKET } from '../settings';
import { FolderStore, type ObjectCreated } from '../storage/folder-store/folder-store';
import { useStore } from '../storage/store';
import { loadRoutes, loadS3Triggers } from './routes';
import { createS3EventDispatcher, objectCreatedRecord } from './s3-events';
import { createLocalServer } from './server';
import { storeEndpoint } from './store-endpoint';

export interface LocalStackOptions {
  host?: string;
  port?: number;
  /** Keep the folder store in this folder across runs; otherwise a temporary folder, deleted on close. */
  directory?: string;
  /** Flush every write of the folder store to the disk before acknowledging it (docs/embedded-store.md). */
  fsync?: boolean;
  /** Environment to read S3_ENDPOINT, BUCKET, credentials etc. from; written back for the handlers. */
  env?: NodeJS.ProcessEnv;
}

export interface LocalStack {
  url: string;
  /**
   * Where presigned URLs point: the local server itself for the folder store (it answers them), else the S3
   * endpoint in use.
   */
  s3Endpoint: string;
  bucket: string;
  /** The folder store, unless S3_ENDPOINT chose S3. */
  folderStore: FolderStore | undefined;
  /** Resolves when every S3-triggered handler started so far has finished. */
  notificationsIdle(): Promise<void>;
  /** Delivers S3 notifications from an endpoint that sends them (the tests' embedded s3rver) as AWS would. */
  dispatchS3Event(event: { Records?: S3EventRecord[] }): void;
  /** Folder of the folder store, if any. */
  directory: string | undefined;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const host = options.host ?? '127.0.0.1';
  let folderStore: FolderStore | undefined;
  let directory: string | undefined;
  let temporary = false;
  env.BUCKET ||= LOCAL_BUCKET;
  env.AWS_REGION ||= 'us-east-1';
  const bucket = env.BUCKET;
  // Loaded now, as Lambda loads a function with its environment set: each function checks its settings as it loads
  // (lib/config.ts), and BUCKET has just got its local default.
  const { httpHandlers, s3Handlers } = require('../../functions/index') as typeof import('../../functions/index');
  const serverlessYml = join(__dirname, '../../serverless.yml');
  const routes = loadRoutes(serverlessYml);
  if (!env.S3_ENDPOINT) {
    if (routes.some((route) => route.resource.split('/')[1] === bucket)) {
      throw new Error(`BUCKET ${bucket} is the name of a route; the folder store serves /${bucket}/… itself.`);
    }
    temporary = options.directory === undefined;
    directory = options.directory ? resolve(options.directory) : await mkdtemp(join(tmpdir(), 'recodex-fileserver-'));
    folderStore = await FolderStore.open({
      directory,
      bucket,
      fsync: options.fsync,
      region: env.AWS_REGION,
    });
    useStore(folderStore);
  }

  const server = createLocalServer({
    routes,
    handlers: httpHandlers,
    // The handlers run in this process, with this configuration: their credential check can run before a body is read.
    authenticate,
    ...(folderStore ? { store: storeEndpoint(folderStore) } : {}),
  });
  // S3 notifications (the archiver's trigger) come from the folder store's object-created events; another endpoint
  // (LocalStack without Lambda) sends none, and archives are then built on their first GET.
  const notifications = createS3EventDispatcher(loadS3Triggers(serverlessYml), s3Handlers);
  const region = env.AWS_REGION;
  folderStore?.on('created', (event: ObjectCreated) => {
    if (notifications.wants(event.eventName, event.key)) {
      notifications.dispatch({ Records: [objectCreatedRecord(bucket, region, event)] });
    }
  });
  try {
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(options.port ?? 9999, host, () => done());
    });
  } catch (err) {
    await folderStore?.close();
    useStore(undefined);
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;
  folderStore?.serveAt(url);
  return {
    url,
    s3Endpoint: folderStore ? url : (env.S3_ENDPOINT as string),
    bucket,
    folderStore,
    directory,
    notificationsIdle: () => notifications.idle(),
    dispatchS3Event: (event) => notifications.dispatch(event),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
      await notifications.idle();
      if (folderStore) {
        await folderStore.close();
        useStore(undefined);
      }
      if (temporary && directory) await rm(directory, { recursive: true, force: true });
    },
  };
}
