/**
 * The store of one handler test file, on the backend of its jest project (test/support/store-view.ts): the folder
 * store (with the local server's store endpoint, so presigned URLs can be fetched), or the embedded s3rver over a
 * temporary folder. Sets the environment the handlers read on first use; call at the top of a test file, before
 * any handler runs (config and the S3 client are read lazily and memoised per test file). The store sends no
 * notifications here: each test invokes the archiver with the events it means to test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { storeEndpoint } from '../../../lib/local/store-endpoint';
import { FolderStore } from '../../../lib/storage/folder-store/folder-store';
import { useStore } from '../../../lib/storage/store';
import { EMBEDDED_S3_CREDENTIALS, type EmbeddedS3, startEmbeddedS3 } from '../../support/embedded-s3';
import { folderView, type StoreView, s3View, testBackend } from '../../support/store-view';

export const BUCKET = 'handler-tests';

export interface TestBucket extends StoreView {
  /** Where presigned URLs point, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  /** A client of our own (S3 backends only), to see what the handlers sent. */
  readonly client: S3Client;
  readonly backend: 'folder' | 's3rver';
}

export function useTestStore(env: Record<string, string> = {}): TestBucket {
  const backend = testBackend();
  let directory: string | undefined;
  let s3rver: EmbeddedS3 | undefined;
  let client: S3Client | undefined;
  let folder: FolderStore | undefined;
  let endpointServer: Server | undefined;
  let endpoint: string | undefined;

  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'handler-tests-'));
    if (backend === 'folder') {
      folder = await FolderStore.open({ directory: join(directory, 'store'), bucket: BUCKET });
      const served = storeEndpoint(folder);
      endpointServer = createServer((req, res) => void served.handle(req, res));
      await new Promise<void>((done) => endpointServer?.listen(0, '127.0.0.1', done));
      endpoint = `http://127.0.0.1:${(endpointServer.address() as AddressInfo).port}`;
      folder.serveAt(endpoint);
      useStore(folder);
      delete process.env.S3_ENDPOINT;
      Object.assign(process.env, { BUCKET, AWS_REGION: 'us-east-1', ...env });
      return;
    }
    s3rver = await startEmbeddedS3({ directory, bucket: BUCKET });
    endpoint = s3rver.endpoint;
    Object.assign(process.env, {
      BUCKET,
      S3_ENDPOINT: s3rver.endpoint,
      AWS_ACCESS_KEY_ID: EMBEDDED_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: EMBEDDED_S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      ...env,
    });
    client = new S3Client({
      endpoint: s3rver.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: EMBEDDED_S3_CREDENTIALS,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });

  afterAll(async () => {
    client?.destroy();
    await s3rver?.close();
    if (endpointServer) {
      endpointServer.closeAllConnections();
      await new Promise<void>((done) => endpointServer?.close(() => done()));
    }
    await folder?.close();
    useStore(undefined);
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} is not there (backend ${backend}); use it inside tests only.`);
    return value;
  };
  const view =
    backend === 'folder'
      ? folderView(() => started(folder, 'The folder store'))
      : s3View(
          () => started(client, 'The S3 client'),
          BUCKET,
          () => started(directory, 'The s3rver folder'),
        );
  return {
    ...view,
    backend,
    get endpoint() {
      return started(endpoint, 'The store endpoint');
    },
    get client() {
      return started(client, 'An S3 client');
    },
  };
}
