/**
 * The storage boundary: the only module the rest of `lib/` and `functions/` call for objects. It speaks in keys and
 * bytes and throws domain errors (docs/development.md, "Code style"), so that the domain reads the same whatever stores the objects.
 *
 * The store is S3 (lib/storage/s3/s3-store.ts) unless local mode installs another with `useStore`: `npm start` runs on the
 * folder store (lib/storage/folder-store/, docs/embedded-store.md) unless S3_ENDPOINT names an S3-compatible server. The
 * folder store is not imported here, so it never enters the Lambda bundles.
 */
import type { Readable } from 'node:stream';
import type {
  GetOptions,
  ListedObject,
  ObjectInfo,
  ObjectStore,
  ObjectStream,
  PresignedPut,
  PresignGetOptions,
  PresignPutOptions,
  PutOptions,
  UploadStreamOptions,
} from './object-store';
import { s3Store } from './s3/s3-store';

export type { ListedObject, ObjectInfo, ObjectStore, ObjectStream, PresignedPut } from './object-store';
export {
  ChecksumMismatchError,
  expectedPutEtag,
  PARALLEL_REQUESTS,
  PreconditionFailed,
  UPLOAD_PART_SIZE,
  UPLOAD_QUEUE_SIZE,
} from './object-store';

let installed: ObjectStore | undefined;

/** The store of this instance: the one installed with `useStore`, else S3. */
export function store(): ObjectStore {
  return installed ?? s3Store;
}

/** Makes `next` the store of this instance (local mode, tests); `undefined` goes back to S3. */
export function useStore(next: ObjectStore | undefined): void {
  installed = next;
}

export function putObject(key: string, body: Buffer, options?: PutOptions): Promise<{ etag: string }> {
  return store().putObject(key, body, options);
}

export function headObject(key: string): Promise<ObjectInfo | undefined> {
  return store().headObject(key);
}

export function getObject(key: string, options?: GetOptions): Promise<ObjectStream | undefined> {
  return store().getObject(key, options);
}

export function uploadStream(key: string, body: Readable, options: UploadStreamOptions): Promise<{ etag: string }> {
  return store().uploadStream(key, body, options);
}

export function listObjects(prefix: string): Promise<ListedObject[]> {
  return store().listObjects(prefix);
}

export function eachObject(prefix: string): AsyncGenerator<ListedObject> {
  return store().eachObject(prefix);
}

export function deleteObject(key: string): Promise<void> {
  return store().deleteObject(key);
}

export function presignGet(key: string, options?: PresignGetOptions): Promise<string> {
  return store().presignGet(key, options);
}

export function presignPut(key: string, options: PresignPutOptions): Promise<PresignedPut> {
  return store().presignPut(key, options);
}

export function readObjectBytes(key: string, object: ObjectStream, maxBytes: number): Promise<Buffer> {
  return store().readObjectBytes(key, object, maxBytes);
}

export function bucketReachable(): Promise<boolean> {
  return store().bucketReachable();
}
