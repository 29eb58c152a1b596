/**
 * What tests read and change straight in the store, behind the service's back, to prove what was or was not written:
 * the same view of the folder store and of an S3 bucket (s3rver, LocalStack), so one suite runs on every backend.
 */
import { utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { FolderStore } from '../../lib/storage/folder-store/folder-store';
import { objectPath } from '../../lib/storage/folder-store/key-path';
import { type BucketView, bucketView } from './bucket-view';

/** What HeadObject tells of an object, in S3's own field names, from either backend. */
export interface StoredInfo {
  ContentLength: number;
  ContentType: string | undefined;
  Metadata: Record<string, string>;
  ETag: string;
  LastModified: Date | undefined;
}

export interface StoreView extends BucketView {
  /** The object's metadata, or `undefined` if there is none. */
  head(key: string): Promise<StoredInfo | undefined>;
  /** Writes an object behind the service's back (a broken client, a tool). */
  put(
    key: string,
    body: Buffer | string,
    options?: { contentType?: string; metadata?: Record<string, string> },
  ): Promise<void>;
  /** Deletes `key` behind the service's back (as a lifecycle rule would). */
  remove(key: string): Promise<void>;
  /** Makes the object at `key` look `ms` older (its Last-Modified). */
  age(key: string, ms: number): Promise<void>;
}

export function folderView(store: () => FolderStore): StoreView {
  return {
    keys: (prefix = '') => store().list(prefix),
    exists: async (key) => (await store().headObject(key)) !== undefined,
    async storedBytes(key) {
      const object = await store().getObject(key);
      if (!object) throw Object.assign(new Error(`NoSuchKey ${key}`), { name: 'NoSuchKey' });
      return store().readObjectBytes(key, object, Number.MAX_SAFE_INTEGER);
    },
    async head(key) {
      const info = await store().headObject(key);
      return (
        info && {
          ContentLength: info.size,
          ContentType: info.contentType,
          Metadata: info.metadata,
          ETag: info.etag,
          LastModified: info.lastModified,
        }
      );
    },
    async put(key, body, options = {}) {
      await store().putObject(key, Buffer.from(body), options);
    },
    remove: (key) => store().deleteObject(key),
    async age(key, ms) {
      const then = new Date(Date.now() - ms);
      await utimes(join(store().directory, 'objects', objectPath(key)), then, then);
    },
  };
}

/** A view of `bucket` through `client()`; `s3rverDirectory` (s3rver's folder) lets `age` move its files back. */
export function s3View(client: () => S3Client, bucket: string, s3rverDirectory?: () => string): StoreView {
  return {
    ...bucketView(client, bucket),
    async head(key) {
      try {
        const head = await client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return {
          ContentLength: head.ContentLength ?? 0,
          ContentType: head.ContentType,
          Metadata: head.Metadata ?? {},
          ETag: head.ETag ?? '',
          LastModified: head.LastModified,
        };
      } catch (err) {
        if ((err as { name?: string }).name === 'NotFound') return undefined;
        throw err;
      }
    },
    async put(key, body, options = {}) {
      await client().send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: Buffer.from(body),
          ...(options.contentType ? { ContentType: options.contentType } : {}),
          ...(options.metadata ? { Metadata: options.metadata } : {}),
        }),
      );
    },
    async remove(key) {
      await client().send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async age(key, ms) {
      if (!s3rverDirectory) throw new Error('age() needs the embedded s3rver folder.');
      // s3rver's Last-Modified is the modification time of its file for the object.
      const parts = key.split('/');
      const file = join(s3rverDirectory(), bucket, ...parts.slice(0, -1), `${parts.at(-1)}._S3rver_object`);
      const then = new Date(Date.now() - ms);
      await utimes(file, then, then);
    },
  };
}

/** The backend the S3-or-folder suites run on: `TEST_STORAGE` (jest.config.js sets it per project). */
export function testBackend(): 'folder' | 's3rver' {
  return process.env.TEST_STORAGE === 's3rver' ? 's3rver' : 'folder';
}
