/**
 * Which S3 notification records the archiver acts on (functions/archiver.ts `ownedRecord`, `recordsOf`), and how local
 * mode turns s3rver's object events into such records (lib/local/s3-events.ts), with the trigger of serverless.yml.
 */
import { join } from 'node:path';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { ownedRecord, recordsOf } from '../../functions/archiver';
import { loadS3Triggers } from '../../lib/local/routes';
import { createS3EventDispatcher, encodeEventKey } from '../../lib/local/s3-events';
import { loadS3Event, loadS3Record, type S3Fixture } from '../handlers/support/s3-events';
import { BUCKET } from '../handlers/support/store';

const record = (eventName: string, key: string, bucket = BUCKET): unknown => ({
  eventName,
  s3: { bucket: { name: bucket }, object: { key } },
});

describe('ownedRecord on the fixtures of test/events/s3', () => {
  const cases: Array<[S3Fixture, string | undefined]> = [
    ['manifest-put', 'student_abc'],
    ['multipart-complete', 'student_multipart'],
    ['manifest-key-with-plus', undefined],
    ['submission-file-put', undefined],
    ['object-removed', undefined],
    ['other-bucket', undefined],
  ];
  it.each(cases)('%s → %s', (fixture, id) => {
    const owned = ownedRecord(loadS3Record(fixture), BUCKET);
    if (id === undefined) expect(owned).toEqual({ ignored: expect.any(String) });
    else expect(owned).toEqual({ bucket: BUCKET, key: `manifests/${id}.json`, submissionId: id });
  });

  it('decodes + as a space, so manifests/a+b.json is the invalid id "a b", ignored by its decoded key', () => {
    expect(ownedRecord(loadS3Record('manifest-key-with-plus'), BUCKET)).toEqual({
      ignored: 'key manifests/a b.json is not a manifest',
    });
  });

  it('is about the bucket of the configuration, not of the fixture', () => {
    expect(ownedRecord(loadS3Record('manifest-put'), 'another-bucket')).toEqual({ ignored: `bucket ${BUCKET}` });
  });
});

describe('ownedRecord on other records', () => {
  it.each([
    ['ObjectCreated:Copy', 'manifests/x.json', 'x'],
    ['ObjectCreated:Post', 'manifests/x.json', 'x'],
    ['ObjectCreated:Put', 'manifests/%78.json', 'x'],
    ['ObjectCreated:Put', 'manifests/a.b.json', 'a.b'],
    ['ObjectCreated:Put', 'manifests/-.json', '-'],
    ['ObjectCreated:Put', `manifests/${'y'.repeat(128)}.json`, 'y'.repeat(128)],
  ])('%s %s → %s', (eventName, key, id) => {
    expect(ownedRecord(record(eventName, key), BUCKET)).toEqual({
      bucket: BUCKET,
      key: decodeURIComponent(key),
      submissionId: id,
    });
  });

  it.each([
    ['ObjectCreated:Put', `manifests/${'y'.repeat(129)}.json`],
    ['ObjectCreated:Put', 'manifests/.json'],
    ['ObjectCreated:Put', 'manifests/..json'],
    ['ObjectCreated:Put', 'manifests/...json'],
    ['ObjectCreated:Put', 'manifests/a%20b.json'],
    ['ObjectCreated:Put', 'manifests/%2E%2E%2Fx.json'],
    ['ObjectCreated:Put', 'manifests/x.JSON'],
    ['ObjectCreated:Put', 'Manifests/x.json'],
    ['ObjectCreated:Put', '/manifests/x.json'],
    ['ObjectCreated:Put', 'manifests/x.json%00'],
    ['ObjectCreated:Put', 'manifests/%'],
    ['ObjectCreated:Put', 'submission_archives/x.zip'],
    ['ObjectRemoved:DeleteMarkerCreated', 'manifests/x.json'],
    ['LifecycleExpiration:Delete', 'manifests/x.json'],
    ['s3:ObjectCreated:Put', 'manifests/x.json'],
  ])('ignores %s %s', (eventName, key) => {
    expect(ownedRecord(record(eventName, key), BUCKET)).toEqual({ ignored: expect.any(String) });
  });

  it.each([[null], [undefined], ['x'], [7], [{}], [{ eventName: 'ObjectCreated:Put' }], [{ s3: {} }]])(
    'ignores the malformed record %p',
    (value) => {
      expect(ownedRecord(value, BUCKET)).toEqual({ ignored: 'not an S3 event record' });
    },
  );
});

describe('recordsOf', () => {
  it('answers the records of an event and none of a malformed one', () => {
    const event = loadS3Event('manifest-put');
    expect(recordsOf(event)).toBe(event.Records);
    for (const malformed of [null, undefined, {}, { Records: 'x' }, { Records: {} }, { Records: null }]) {
      expect(recordsOf(malformed as unknown as S3Event)).toEqual([]);
    }
  });
});

describe('encodeEventKey (local mode) and ownedRecord agree', () => {
  it.each(['student_abc', 'a.b', 'A-Z_a-z.0-9', '-', '_', 'x'.repeat(128)])('round-trips the id %s', (id) => {
    const key = `manifests/${id}.json`;
    expect(ownedRecord(record('ObjectCreated:Put', encodeEventKey(key)), BUCKET)).toEqual({
      bucket: BUCKET,
      key,
      submissionId: id,
    });
  });

  it('encodes as S3 does: space as +, slashes kept, other characters percent-encoded as UTF-8', () => {
    expect(encodeEventKey('manifests/a b.json')).toBe('manifests/a+b.json');
    expect(encodeEventKey('submissions/id/sub dir/ž+x.c')).toBe('submissions/id/sub+dir/%C5%BE%2Bx.c');
    expect(decodeURIComponent(encodeEventKey('a/b c+d%e').replace(/\+/g, ' '))).toBe('a/b c+d%e');
  });
});

describe('the local S3 event dispatcher with the trigger of serverless.yml', () => {
  const triggers = loadS3Triggers(join(__dirname, '../../serverless.yml'));

  it('has exactly the archiver trigger: ObjectCreated:* on manifests/*.json', () => {
    expect(triggers).toEqual([
      { handler: 'functions/archiver.handler', event: 's3:ObjectCreated:*', prefix: 'manifests/', suffix: '.json' },
    ]);
  });

  /** A record as s3rver emits it: the key not encoded. */
  const s3rverRecord = (eventName: string, key: string): S3EventRecord => {
    const base = loadS3Record('manifest-put');
    return { ...base, eventName, s3: { ...base.s3, object: { ...base.s3.object, key } } };
  };

  function dispatcherWith(handler: (event: S3Event) => Promise<void>) {
    return createS3EventDispatcher(triggers, { 'functions/archiver.handler': handler });
  }

  it('delivers manifest creations one record per event, the key encoded, and s3rver’s Post renamed', async () => {
    const delivered: S3Event[] = [];
    const dispatcher = dispatcherWith(async (event) => {
      delivered.push(event);
    });
    dispatcher.dispatch({
      Records: [
        s3rverRecord('ObjectCreated:Put', 'manifests/a.json'),
        s3rverRecord('ObjectCreated:Post', 'manifests/b.json'),
        s3rverRecord('ObjectCreated:Copy', 'manifests/c d.json'),
        s3rverRecord('ObjectCreated:Put', 'submissions/a/main.json'),
        s3rverRecord('ObjectCreated:Put', 'submission_archives/a.zip'),
        s3rverRecord('ObjectCreated:Put', 'manifests/a.json.tmp'),
        s3rverRecord('ObjectRemoved:Delete', 'manifests/a.json'),
      ],
    });
    await dispatcher.idle();
    expect(delivered.map((event) => event.Records.map((r) => [r.eventName, r.s3.object.key]))).toEqual([
      [['ObjectCreated:Put', 'manifests/a.json']],
      [['ObjectCreated:CompleteMultipartUpload', 'manifests/b.json']],
      [['ObjectCreated:Copy', 'manifests/c+d.json']],
    ]);
  });

  it('wants exactly the events it would deliver (s3rver’s Post included), so others need no record at all', () => {
    const dispatcher = dispatcherWith(async () => undefined);
    expect(
      [
        ['ObjectCreated:Put', 'manifests/a.json'],
        ['ObjectCreated:Post', 'manifests/b.json'],
        ['ObjectCreated:Copy', 'manifests/c d.json'],
        ['ObjectCreated:Put', 'submissions/a/main.json'],
        ['ObjectCreated:Put', 'submission_archives/a.zip'],
        ['ObjectCreated:Put', 'manifests/a.json.tmp'],
        ['ObjectRemoved:Delete', 'manifests/a.json'],
      ].map(([eventName, key]) => dispatcher.wants(eventName as string, key as string)),
    ).toEqual([true, true, true, false, false, false, false]);
  });

  it('does not let a failing handler escape, and idle() waits for slow ones', async () => {
    let finished = 0;
    const dispatcher = dispatcherWith(async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      finished++;
      if (event.Records[0]?.s3.object.key === 'manifests/bad.json') throw new Error('build failed');
    });
    expect(() =>
      dispatcher.dispatch({
        Records: [
          s3rverRecord('ObjectCreated:Put', 'manifests/bad.json'),
          s3rverRecord('ObjectCreated:Put', 'manifests/ok.json'),
        ],
      }),
    ).not.toThrow();
    expect(finished).toBe(0);
    await dispatcher.idle();
    expect(finished).toBe(2);
  });

  it('refuses a trigger whose handler functions/index.ts does not export', () => {
    expect(() => createS3EventDispatcher(triggers, {})).toThrow('functions/archiver.handler');
  });
});
