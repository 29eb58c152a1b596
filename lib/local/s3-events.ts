/**
 * Local stand-in for S3 event notifications: s3rver's object events, filtered by the `s3` events of
 * `serverless.yml`, delivered to the same handler as AWS would deliver them (one record per event, the key
 * URL-encoded the way S3 encodes it), asynchronously and without blocking the write that caused them.
 */
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { describeError, log } from '../util/log';
import type { S3Trigger } from './routes';
import { triggerMatches } from './routes';

export type S3Handler = (event: S3Event) => Promise<void>;

/** S3 URL-encodes keys in notifications, form style: a space is `+`, a `/` stays. */
export function encodeEventKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, '+').replace(/%2F/g, '/');
}

export interface S3EventDispatcher {
  /** Delivers s3rver's event to the matching handlers. */
  dispatch(event: { Records?: S3EventRecord[] }): void;
  /**
   * Whether a record of this event and (raw) key would reach a handler. Most writes notify nothing (only manifests
   * do, serverless.yml), so the folder store's events are made into records only when one would.
   */
  wants(eventName: string, key: string): boolean;
  /** Resolves when every delivery started so far has finished. */
  idle(): Promise<void>;
}

export function createS3EventDispatcher(
  triggers: readonly S3Trigger[],
  handlers: Readonly<Record<string, S3Handler>>,
): S3EventDispatcher {
  for (const trigger of triggers) {
    if (!handlers[trigger.handler]) {
      throw new Error(`serverless.yml names the handler ${trigger.handler}, which functions/index.ts does not export.`);
    }
  }
  const inFlight = new Set<Promise<void>>();
  return {
    wants(eventName, key) {
      const name = s3EventName(eventName);
      return triggers.some((trigger) => triggerMatches(trigger, name, key));
    },
    dispatch(event) {
      for (const record of event.Records ?? []) {
        const key = record.s3?.object?.key;
        if (typeof key !== 'string') continue;
        const eventName = s3EventName(record.eventName);
        for (const trigger of triggers) {
          if (!triggerMatches(trigger, eventName, key)) continue;
          const delivered: S3EventRecord = {
            ...record,
            eventName,
            s3: { ...record.s3, object: { ...record.s3.object, key: encodeEventKey(key) } },
          };
          const handler = handlers[trigger.handler] as S3Handler;
          const delivery = handler({ Records: [delivered] })
            .catch((err: unknown) => log('error', 'S3-triggered handler failed', { key, ...describeError(err) }))
            .finally(() => inFlight.delete(delivery));
          inFlight.add(delivery);
        }
      }
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}

/** s3rver names multipart completion `ObjectCreated:Post`; S3 says `CompleteMultipartUpload`. */
function s3EventName(eventName: string): string {
  return eventName === 'ObjectCreated:Post' ? 'ObjectCreated:CompleteMultipartUpload' : eventName;
}

/**
 * The notification record S3 sends for an object-created event (AWS S3 docs, "Event message structure", version
 * 2.1), for the folder store's writes. The key is raw here; `dispatch` encodes it as S3 does.
 */
export function objectCreatedRecord(
  bucket: string,
  region: string,
  event: { key: string; size: number; etag: string; eventName: string },
): S3EventRecord {
  const now = new Date();
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: region,
    eventTime: now.toISOString(),
    eventName: event.eventName,
    userIdentity: { principalId: 'local' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: { 'x-amz-request-id': 'local', 'x-amz-id-2': 'local' },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'local-folder-store',
      bucket: { name: bucket, ownerIdentity: { principalId: 'local' }, arn: `arn:aws:s3:::${bucket}` },
      object: {
        key: event.key,
        size: event.size,
        eTag: event.etag.replace(/"/g, ''),
        sequencer: now.getTime().toString(16).toUpperCase().padStart(16, '0'),
      },
    },
  };
}
