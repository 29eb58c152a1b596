/**
 * S3 trigger: `s3:ObjectCreated:*` on `manifests/` (serverless.yml). Brings each notified submission's archive up
 * to date; throws if any build failed, so that Lambda retries the event (asynchronous invocations are retried twice).
 */
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { checkConfigAtStart, config } from '../lib/config';
import { archiveCurrentManifest } from '../lib/fileserver/archive-refresh';
import { submissionIdOfManifestKey } from '../lib/fileserver/keys';
import { describeError, log } from '../lib/util/log';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

export const handler = async (event: S3Event): Promise<void> => {
  const { bucket, archiveLayout } = config();
  const failed: string[] = [];
  for (const record of recordsOf(event)) {
    const owned = ownedRecord(record, bucket);
    if ('ignored' in owned) {
      log('info', 'archiver: record ignored', { reason: owned.ignored });
      continue;
    }
    const started = Date.now();
    try {
      const outcome = await archiveCurrentManifest(owned.submissionId, archiveLayout);
      log('info', 'archiver', { submission: owned.submissionId, outcome, ms: Date.now() - started });
    } catch (err) {
      failed.push(owned.submissionId);
      log('error', 'archiver: build failed', { submission: owned.submissionId, ...describeError(err) });
    }
  }
  if (failed.length > 0) throw new Error(`Archive builds failed for: ${failed.join(', ')}`);
};

export interface OwnedRecord {
  bucket: string;
  key: string;
  submissionId: string;
}

/**
 * The submission a notification record is about, or a reason to ignore it. Keys arrive URL-encoded in the form
 * style (`+` is a space; AWS S3 event notification docs, "Event message structure").
 */
export function ownedRecord(record: unknown, bucket: string): OwnedRecord | { ignored: string } {
  const r = record as Partial<S3EventRecord> | null | undefined;
  const eventName = r?.eventName;
  const recordBucket = r?.s3?.bucket?.name;
  const rawKey = r?.s3?.object?.key;
  if (typeof eventName !== 'string' || typeof recordBucket !== 'string' || typeof rawKey !== 'string') {
    return { ignored: 'not an S3 event record' };
  }
  if (!eventName.startsWith('ObjectCreated:')) return { ignored: `event ${eventName}` };
  if (recordBucket !== bucket) return { ignored: `bucket ${recordBucket}` };
  let key: string;
  try {
    key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
  } catch {
    return { ignored: 'undecodable key' };
  }
  const submissionId = submissionIdOfManifestKey(key);
  if (!submissionId) return { ignored: `key ${key} is not a manifest` };
  return { bucket, key, submissionId };
}

/** The records of an event, tolerating a malformed event (which has none). */
export function recordsOf(event: S3Event | null | undefined): unknown[] {
  return Array.isArray(event?.Records) ? event.Records : [];
}
