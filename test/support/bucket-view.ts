/**
 * What tests read straight from a bucket, behind the service's back, to prove what was or was not written: every
 * key, whether a key exists, and the stored bytes.
 */
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';

export interface BucketView {
  /** Every key under `prefix` (all keys by default), sorted. */
  keys(prefix?: string): Promise<string[]>;
  /** Whether an object exists at `key` (asked of the store, not of a route). */
  exists(key: string): Promise<boolean>;
  /** The stored bytes at `key`. */
  storedBytes(key: string): Promise<Buffer>;
}

/** A view of `bucket` through the client `client()` gives (a function, for clients made later). */
export function bucketView(client: () => S3Client, bucket: string): BucketView {
  return {
    async keys(prefix = '') {
      const all: string[] = [];
      let token: string | undefined;
      do {
        const page = await client().send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) if (object.Key) all.push(object.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return all.sort();
    },
    async exists(key) {
      try {
        await client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (err) {
        if ((err as { name?: string }).name === 'NotFound') return false;
        throw err;
      }
    },
    async storedBytes(key) {
      const answer = await client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from((await answer.Body?.transformToByteArray()) ?? []);
    },
  };
}
