/**
 * S3 trigger: `s3:ObjectCreated:*` on `manifests/` (serverless.yml). Brings each notified submission's archive up
 * to date; throws if any build failed, so that Lambda retries the event (asynchronous invocations are retried twice).
 */
import type { S3Event } from 'aws-lambda';
import { archiveCurrentManifest, ownedRecord, recordsOf } from '../lib/archiver';
import { config } from '../lib/config';
import { describeError, log } from '../lib/log';

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
