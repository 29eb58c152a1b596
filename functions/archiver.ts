/**
 * S3 trigger: `s3:ObjectCreated:*` on `manifests/` (serverless.yml). Brings each notified submission's archive up
 * to date; throws if any build failed, so that Lambda retries the event (asynchronous invocations are retried twice).
 * Each record is handled as an invocation of its own (lib/util/invocation.ts): its lines name the Lambda request and
 * the S3 event, and its summary line carries its metrics.
 */
import type { Context, S3Event, S3EventRecord } from 'aws-lambda';
import { type ArchiveLayout, checkConfigAtStart, config } from '../lib/config';
import { archiveCurrentManifest } from '../lib/fileserver/archive-refresh';
import { submissionIdOfManifestKey } from '../lib/fileserver/keys';
import { counted, invocationFields, lambdaFields, withInvocation } from '../lib/util/invocation';
import { describeError, log } from '../lib/util/log';
import { emfMembers, type MetricGroup } from '../lib/util/metrics';

// Lambda runs this as it loads the module (the init phase): a bad setting fails the start, naming it.
checkConfigAtStart();

export const handler = async (event: S3Event, context?: Context): Promise<void> =>
  withInvocation(lambdaFields(context, 'archiver'), async () => {
    const { bucket, archiveLayout } = config();
    const failed: string[] = [];
    for (const record of recordsOf(event)) {
      // Every line about this record names the S3 event it handles (docs/deploy.md, "Logs").
      const failure = await withInvocation({ ...invocationFields(), s3Event: describeRecord(record) }, () =>
        handleRecord(record, bucket, archiveLayout),
      );
      if (failure) failed.push(failure);
    }
    if (failed.length > 0) throw new Error(`Archive builds failed for: ${failed.join(', ')}`);
  });

/**
 * One record: brings its submission's archive up to date and writes the record's summary line, which is also its
 * metrics (lib/util/metrics.ts: the build's duration, files and bytes, and the S3 requests of the record). Answers
 * the submission whose build failed, if it did.
 */
async function handleRecord(record: unknown, bucket: string, layout: ArchiveLayout): Promise<string | undefined> {
  const owned = ownedRecord(record, bucket);
  if ('ignored' in owned) {
    log('info', 'archiver: record ignored', { reason: owned.ignored });
    return undefined;
  }
  const started = Date.now();
  let outcome: string;
  try {
    outcome = await archiveCurrentManifest(owned.submissionId, layout);
  } catch (err) {
    log('error', 'archiver: build failed', { submission: owned.submissionId, ...describeError(err) });
    outcome = 'failed';
  }
  const values: MetricGroup['values'] = { S3Requests: 0 };
  for (const [name, value] of counted()) values[name] = value;
  log('info', 'archiver', {
    submission: owned.submissionId,
    outcome,
    ms: Date.now() - started,
    ...emfMembers([{ dimensions: {}, values }]),
  });
  return outcome === 'failed' ? owned.submissionId : undefined;
}

/** What names an S3 event record in the logs: event, bucket, key as S3 sent it, its sequencer and time. */
function describeRecord(record: unknown): Record<string, unknown> {
  const r = record as Partial<S3EventRecord> | null | undefined;
  return {
    name: r?.eventName,
    bucket: r?.s3?.bucket?.name,
    key: r?.s3?.object?.key,
    sequencer: r?.s3?.object?.sequencer,
    time: r?.eventTime,
  };
}

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
