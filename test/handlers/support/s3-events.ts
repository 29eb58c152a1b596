/**
 * S3 event notifications from `test/events/s3/`, as AWS delivers them to the archiver. The fixtures name the
 * production bucket `recodex-fileserver-prod`; the loader moves every record of that bucket to the test bucket
 * (name and ARN), so that they are records the handler owns. Records of any other bucket (`other-bucket.json`)
 * are left as they are.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { BUCKET } from './store';

export type S3Fixture =
  | 'manifest-key-with-plus'
  | 'manifest-put'
  | 'multipart-complete'
  | 'object-removed'
  | 'other-bucket'
  | 'submission-file-put';

/** The bucket the fixtures were "recorded" in; the loader replaces it with the test bucket. */
export const FIXTURE_BUCKET = 'recodex-fileserver-prod';

const FIXTURES = join(__dirname, '..', '..', 'events', 's3');

export interface S3RecordOverrides {
  /** The object key exactly as it appears in the event, i.e. already URL-encoded. */
  key?: string;
  eTag?: string;
  size?: number;
  sequencer?: string;
  eventName?: string;
  eventTime?: string;
  /** Replaces the bucket (name and ARN) after the fixture bucket was moved to the test bucket. */
  bucket?: string;
}

export function loadS3Event(name: S3Fixture, overrides: S3RecordOverrides = {}): S3Event {
  const event = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as S3Event;
  for (const record of event.Records) applyOverrides(record, overrides);
  return event;
}

/** The only record of a fixture, for composing events with several records. */
export function loadS3Record(name: S3Fixture, overrides: S3RecordOverrides = {}): S3EventRecord {
  const [record, ...rest] = loadS3Event(name, overrides).Records;
  if (!record || rest.length > 0) throw new Error(`The fixture ${name} does not hold exactly one record.`);
  return record;
}

/** S3's form-style encoding of a key in notifications (`/` kept, space as `+`), done independently of lib/. */
export function encodeKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%20/g, '+'))
    .join('/');
}

/** A `manifests/<id>.json` put event for the test bucket, the id percent-encoded as S3 would send it. */
export function manifestEvent(id: string, overrides: S3RecordOverrides = {}): S3Event {
  return loadS3Event('manifest-put', { key: encodeKey(`manifests/${id}.json`), ...overrides });
}

function applyOverrides(record: S3EventRecord, overrides: S3RecordOverrides): void {
  if (record.s3.bucket.name === FIXTURE_BUCKET) setBucket(record, BUCKET);
  if (overrides.bucket !== undefined) setBucket(record, overrides.bucket);
  if (overrides.eventName !== undefined) record.eventName = overrides.eventName;
  if (overrides.eventTime !== undefined) record.eventTime = overrides.eventTime;
  const object = record.s3.object;
  if (overrides.key !== undefined) object.key = overrides.key;
  if (overrides.eTag !== undefined) object.eTag = overrides.eTag;
  if (overrides.size !== undefined) object.size = overrides.size;
  if (overrides.sequencer !== undefined) object.sequencer = overrides.sequencer;
}

function setBucket(record: S3EventRecord, bucket: string): void {
  record.s3.bucket.name = bucket;
  record.s3.bucket.arn = `arn:aws:s3:::${bucket}`;
}
