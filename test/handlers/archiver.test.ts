/**
 * The S3-triggered archiver (functions/archiver.ts, docs/design.md "Archive on upload"): S3 notifications, at
 * least once, unordered, URL-encoded, name a submission whose *current* manifest is then archived (docs/protocol.md
 * §3). Submissions are stored through lib/fileserver/submissions.ts, as POST /submissions does; the embedded S3 server sends
 * no notifications here, each test invokes the handler with the events it means to test.
 */

import { createHash } from 'node:crypto';
import type { S3Event } from 'aws-lambda';
import { handler as archiver } from '../../functions/archiver';
import { handler as archives } from '../../functions/archives';
import { storeSubmission } from '../../lib/fileserver/submissions';
import { parseFileParts } from '../../lib/http/multipart';
import { file, multipart } from '../support/multipart';
import { readZip } from '../support/zip';
import { storedBytes, submit } from './support/archives';
import { bodyBytes, invoke, loadEvent } from './support/events';
import { captureLogs } from './support/logs';
import { encodeKey, loadS3Event, loadS3Record, manifestEvent } from './support/s3-events';
import { BUCKET, useTestStore } from './support/store';
import { beforeStoreCall, STORE_WRITES, spyOnStore } from './support/store-spy';

// Builds of the archiver and of GETs are under test: POSTs leave every build to them (lib/config.ts).
const bucket = useTestStore({ ARCHIVE_IN_POST_MAX_BYTES: '0' });

/** Store calls that write an archive (or any object): none of them may follow an event that changes nothing. */
const WRITES = STORE_WRITES;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const archiveKeyOf = (id: string): string => `submission_archives/${id}.zip`;

const getBytes = (key: string): Promise<Buffer> => storedBytes(bucket, key);

async function head(key: string) {
  const info = await bucket.head(key);
  if (!info) throw new Error(`No object at ${key}.`);
  return info;
}

/** The stored archive's entries as `name → text`, in archive order. */
async function storedEntries(id: string): Promise<Array<{ name: string; data: string }>> {
  const entries = await readZip(await getBytes(archiveKeyOf(id)));
  return entries.map((entry) => ({ name: entry.name, data: entry.data.toString('utf8') }));
}

/** What the archive of `files` must hold in the default (prefixed) layout, sorted by path. */
function expectedEntries(id: string, files: Record<string, string>): Array<{ name: string; data: string }> {
  return Object.entries(files)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, data]) => ({ name: `${id}/${path}`, data }));
}

/** Runs `body` with a spy on the storage boundary and answers the names of the store calls it made. */
async function commandsDuring(body: () => Promise<unknown>): Promise<string[]> {
  const spy = spyOnStore();
  try {
    await body();
    return spy.names();
  } finally {
    spy.remove();
  }
}

describe('archiver: an owned manifest event builds the archive', () => {
  it('decodes a percent-encoded key and archives exactly the submitted files under <id>/', async () => {
    const files = {
      'main.c': 'int main(void) { return 0; }\n',
      'sub/dir/x.txt': 'x\n',
      'job-config.yml': 'submission:\n  job-id: student_abc\n',
    };
    await submit('student_abc', files);
    expect(await bucket.exists(archiveKeyOf('student_abc'))).toBe(false);

    const event = loadS3Event('manifest-put');
    expect(event.Records[0]?.s3.object.key).toBe('manifests/student%5Fabc.json');
    await expect(archiver(event)).resolves.toBeUndefined();

    expect(await bucket.keys('submission_archives/')).toEqual(['submission_archives/student_abc.zip']);
    expect(await storedEntries('student_abc')).toEqual(expectedEntries('student_abc', files));
    const stored = await head(archiveKeyOf('student_abc'));
    expect(stored.ContentType).toBe('application/zip');
    expect(stored.Metadata).toEqual({
      'manifest-sha256': expect.stringMatching(/^[0-9a-f]{64}$/),
      'archive-layout': 'prefixed',
    });
  });

  it('builds on ObjectCreated:CompleteMultipartUpload too', async () => {
    const files = { 'job-config.yml': 'c', 'main.py': 'print(1)\n' };
    await submit('student_multipart', files);
    const event = loadS3Event('multipart-complete');
    expect(event.Records[0]?.eventName).toBe('ObjectCreated:CompleteMultipartUpload');
    await expect(archiver(event)).resolves.toBeUndefined();
    expect(await storedEntries('student_multipart')).toEqual(expectedEntries('student_multipart', files));
  });

  it('decodes other percent-encoded characters of an id (%2E is a dot)', async () => {
    await submit('v1.2-final', { 'a.txt': 'A' });
    await expect(archiver(manifestEvent('x', { key: 'manifests/v1%2E2%2Dfinal.json' }))).resolves.toBeUndefined();
    expect(await storedEntries('v1.2-final')).toEqual([{ name: 'v1.2-final/a.txt', data: 'A' }]);
  });

  it('builds the archive of every owned record of an event with several records', async () => {
    await submit('multi_one', { 'one.txt': '1' });
    await submit('multi_two', { 'two.txt': '2', 'job-config.yml': 'j' });
    await submit('multi_ignored', { 'x.txt': 'x' });
    const event: S3Event = {
      Records: [
        loadS3Record('manifest-put', { key: encodeKey('manifests/multi_one.json'), sequencer: '00674E4A8B1F2D3C50' }),
        loadS3Record('object-removed', { key: encodeKey('manifests/multi_ignored.json') }),
        loadS3Record('manifest-put', { key: encodeKey('manifests/multi_two.json'), sequencer: '00674E4A8B1F2D3C60' }),
      ],
    };
    await expect(archiver(event)).resolves.toBeUndefined();
    expect(await storedEntries('multi_one')).toEqual([{ name: 'multi_one/one.txt', data: '1' }]);
    expect(await storedEntries('multi_two')).toEqual([
      { name: 'multi_two/job-config.yml', data: 'j' },
      { name: 'multi_two/two.txt', data: '2' },
    ]);
    expect(await bucket.exists(archiveKeyOf('multi_ignored'))).toBe(false);
  });

  it('resolves without writing anything for a manifest event whose submission has no manifest', async () => {
    const before = await bucket.keys();
    const sent = await commandsDuring(() => archiver(manifestEvent('never_uploaded')));
    expect(sent.filter((name) => WRITES.includes(name))).toEqual([]);
    expect(await bucket.keys()).toEqual(before);
  });
});

describe('archiver: duplicate and late events change nothing', () => {
  it('writes nothing on a duplicate event, and the archive keeps its ETag and LastModified', async () => {
    await submit('dup_1', { 'main.c': 'int x;\n', 'job-config.yml': 'c' });
    const event = manifestEvent('dup_1');
    const first = await commandsDuring(() => archiver(event));
    expect(first).toContain('uploadStream');
    const before = await head(archiveKeyOf('dup_1'));

    const second = await commandsDuring(() => archiver(event));
    expect(second.length).toBeGreaterThan(0);
    expect(second.filter((name) => WRITES.includes(name))).toEqual([]);
    const after = await head(archiveKeyOf('dup_1'));
    expect({ etag: after.ETag, lastModified: after.LastModified?.toISOString() }).toEqual({
      etag: before.ETag,
      lastModified: before.LastModified?.toISOString(),
    });
  });

  it('archives the newest manifest when the events of two uploads arrive out of order', async () => {
    const id = 'ooo_pair';
    const v1 = { 'main.c': 'v1\n', 'job-config.yml': 'c' };
    await submit(id, v1);
    const manifestV1 = await head(`manifests/${id}.json`);
    const v2 = { 'main.c': 'v2\n', 'extra.txt': 'added in v2' };
    await submit(id, v2);
    const manifestV2 = await head(`manifests/${id}.json`);
    expect(manifestV2.ETag).not.toBe(manifestV1.ETag);

    const eventFor = (etag: string | undefined, sequencer: string, size: number | undefined) =>
      manifestEvent(id, { eTag: (etag ?? '').replace(/"/g, ''), sequencer, size: size ?? 0 });
    const v2Files = { 'extra.txt': 'added in v2', 'job-config.yml': 'c', 'main.c': 'v2\n' };

    await expect(
      archiver(eventFor(manifestV2.ETag, '00674E4A9000000002', manifestV2.ContentLength)),
    ).resolves.toBeUndefined();
    expect(await storedEntries(id)).toEqual(expectedEntries(id, v2Files));
    const built = await head(archiveKeyOf(id));

    // The late event of the first upload: older eTag, older sequencer, same key.
    const late = await commandsDuring(() =>
      archiver(eventFor(manifestV1.ETag, '00674E4A9000000001', manifestV1.ContentLength)),
    );
    expect(late.filter((name) => WRITES.includes(name))).toEqual([]);
    expect(await storedEntries(id)).toEqual(expectedEntries(id, v2Files));
    expect((await head(archiveKeyOf(id))).ETag).toBe(built.ETag);
  });

  it('rebuilds on an event after a re-POST even if the earlier event was the one delivered twice', async () => {
    const id = 'repost_rebuild';
    await submit(id, { 'a.txt': 'a1' });
    await archiver(manifestEvent(id));
    await archiver(manifestEvent(id));
    await submit(id, { 'a.txt': 'a2', 'b.txt': 'b' });
    // S3 may deliver the second upload's event late; an earlier duplicate must not have made the archive "current".
    await archiver(manifestEvent(id));
    expect(await storedEntries(id)).toEqual(expectedEntries(id, { 'a.txt': 'a2', 'b.txt': 'b' }));
  });
});

describe('archiver: records that are not ours are ignored', () => {
  const id = 'student_xyz';
  beforeAll(async () => {
    // A real submission without an archive: a record about it that is not ignored would build one.
    await submit(id, { 'src/main.c': 'int main;\n', 'job-config.yml': 'c' });
  });

  const ignored: Array<[string, () => S3Event]> = [
    ['a key under submissions/', () => loadS3Event('submission-file-put')],
    ["a manifest key with '+' (decodes to 'a b', not an id)", () => loadS3Event('manifest-key-with-plus')],
    ['ObjectRemoved:Delete of a manifest', () => loadS3Event('object-removed')],
    ['a manifest in another bucket', () => loadS3Event('other-bucket')],
    ['an archive key (the archiver must not trigger itself)', () => manifestEvent(id, { key: archiveKeyOf(id) })],
    ['a manifest key with another suffix', () => manifestEvent(id, { key: `manifests/${id}.json.bak` })],
    ['a manifest key one folder deeper', () => manifestEvent(id, { key: `manifests/x/${id}.json` })],
    ['a manifest key with an encoded slash', () => manifestEvent(id, { key: `manifests/x%2F${id}.json` })],
    ['a manifest key of the id ..', () => manifestEvent(id, { key: 'manifests/...json' })],
    ['a key that is not valid percent-encoding', () => manifestEvent(id, { key: 'manifests/%E0%A4%A.json' })],
    ['ObjectTagging:Put of a manifest', () => manifestEvent(id, { eventName: 'ObjectTagging:Put' })],
    ['ObjectRestore:Completed of a manifest', () => manifestEvent(id, { eventName: 'ObjectRestore:Completed' })],
    ['a lowercase event name', () => manifestEvent(id, { eventName: 'objectcreated:put' })],
  ];

  it.each(ignored)('resolves and writes nothing for %s', async (_what, makeEvent) => {
    const event = makeEvent();
    const before = await bucket.keys();
    const sent = await commandsDuring(() => expect(archiver(event)).resolves.toBeUndefined());
    expect(sent).toEqual([]);
    expect(await bucket.keys()).toEqual(before);
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
  });

  it('the fixtures are about the stored submission, so only the filter keeps them from building', async () => {
    expect(loadS3Event('object-removed').Records[0]?.s3.object.key).toBe('manifests/student%5Fxyz.json');
    expect(loadS3Event('other-bucket').Records[0]?.s3.object.key).toBe('manifests/student%5Fxyz.json');
    expect(loadS3Event('other-bucket').Records[0]?.s3.bucket.name).not.toBe(BUCKET);
    expect(loadS3Event('submission-file-put').Records[0]?.s3.bucket.name).toBe(BUCKET);
    // The same record with the owned event name and bucket does build: the ignore tests above prove the filter.
    await archiver(loadS3Event('object-removed', { eventName: 'ObjectCreated:Put' }));
    expect(await bucket.exists(archiveKeyOf(id))).toBe(true);
    await bucket.remove(archiveKeyOf(id));
  });

  const malformed: Array<[string, unknown]> = [
    ['null', null],
    ['undefined', undefined],
    ['{}', {}],
    ["{ Records: 'x' }", { Records: 'x' }],
    ['{ Records: {} }', { Records: {} }],
    [
      'a record without s3',
      { Records: [{ eventVersion: '2.1', eventSource: 'aws:s3', eventName: 'ObjectCreated:Put' }] },
    ],
    ['a null record', { Records: [null] }],
    ['a string record', { Records: ['manifests/student_xyz.json'] }],
    [
      'a record whose key is a number',
      { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: BUCKET }, object: { key: 7 } } }] },
    ],
    [
      'a record without eventName',
      { Records: [{ s3: { bucket: { name: BUCKET }, object: { key: 'manifests/student_xyz.json' } } }] },
    ],
  ];

  it.each(malformed)('resolves and writes nothing for a malformed event: %s', async (_what, event) => {
    const before = await bucket.keys();
    const sent = await commandsDuring(() => expect(archiver(event as S3Event)).resolves.toBeUndefined());
    expect(sent).toEqual([]);
    expect(await bucket.keys()).toEqual(before);
  });
});

describe('archiver: a build that cannot read the manifest’s files fails and writes no archive', () => {
  it('rejects when a file of the manifest is missing from storage', async () => {
    const id = 'missing_file';
    await submit(id, { 'a.txt': 'a', 'main.c': 'int main;\n', 'z.txt': 'z' });
    await bucket.remove(`submissions/${id}/main.c`);
    const { result, lines } = await captureLogs(() => archiver(manifestEvent(id)));
    expect(result).toEqual({
      status: 'rejected',
      reason: expect.objectContaining({ message: expect.stringContaining(id) }),
    });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: 'archiver: build failed',
        submission: id,
        errorMessage: expect.stringContaining('main.c of submission missing_file is missing from storage'),
      }),
    );
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
  });

  it('rejects when the first file of the manifest is missing from storage', async () => {
    const id = 'missing_first';
    await submit(id, { 'a.txt': 'a', 'b.txt': 'b' });
    await bucket.remove(`submissions/${id}/a.txt`);
    await expect(archiver(manifestEvent(id))).rejects.toThrow(Error);
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
  });

  it('rejects when a file was overwritten behind the manifest’s back (If-Match)', async () => {
    const id = 'overwritten';
    await submit(id, { 'job-config.yml': 'c', 'main.c': 'original\n' });
    await bucket.put(`submissions/${id}/main.c`, 'overwritten directly\n');
    const { result, lines } = await captureLogs(() => archiver(manifestEvent(id)));
    expect(result.status).toBe('rejected');
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: 'archiver: build failed',
        submission: id,
        errorMessage: expect.stringMatching(/submissions\/overwritten\/main\.c: the stored version is .* not /),
      }),
    );
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
  });

  it('keeps the previous archive when a rebuild fails, and still builds the other records of the event', async () => {
    const id = 'keeps_previous';
    await submit(id, { 'a.txt': 'a1' });
    await archiver(manifestEvent(id));
    const previous = await getBytes(archiveKeyOf(id));
    await submit(id, { 'a.txt': 'a2' });
    // The re-POSTed a.txt is stored under a revision key (the first one stays where it was); lose that one.
    const replaced = (await bucket.keys()).filter((key) => key.startsWith(`revisions/${id}/`));
    expect(replaced).toHaveLength(1);
    await bucket.remove(replaced[0] as string);
    await submit('keeps_other', { 'o.txt': 'o' });

    const event: S3Event = {
      Records: [manifestEvent(id).Records[0], manifestEvent('keeps_other').Records[0]].filter(
        (record) => record !== undefined,
      ),
    };
    await expect(archiver(event)).rejects.toThrow(id);
    expect(await getBytes(archiveKeyOf(id))).toEqual(previous);
    expect(await storedEntries('keeps_other')).toEqual([{ name: 'keeps_other/o.txt', data: 'o' }]);
  });
});

describe('archiver: the same bytes whichever path builds the archive', () => {
  const getArchive = (id: string) =>
    invoke(archives, loadEvent('worker-archive-get', { param: `${id}.zip`, headers: { Authorization: undefined } }));

  it('serves the archive the handler built byte for byte, and an on-demand build gives the same bytes', async () => {
    const id = 'same_bytes';
    await submit(id, {
      'main.c': 'int main(void) { return 0; }\n'.repeat(200),
      'img/pic.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255, 254]),
      'notes/readme.txt': 'žluťoučký kůň\n',
      'job-config.yml': `submission:\n  job-id: ${id}\n`,
    });
    await archiver(manifestEvent(id));
    const built = await getBytes(archiveKeyOf(id));

    const served = await getArchive(id);
    expect(served.statusCode).toBe(200);
    expect(sha256(bodyBytes(served))).toBe(sha256(built));

    await bucket.remove(archiveKeyOf(id));
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
    const onDemand = await getArchive(id);
    expect(onDemand.statusCode).toBe(200);
    expect(sha256(bodyBytes(onDemand))).toBe(sha256(built));
    expect(sha256(await getBytes(archiveKeyOf(id)))).toBe(sha256(built));

    // And the archiver finds the archive the GET built current.
    const sent = await commandsDuring(() => archiver(manifestEvent(id)));
    expect(sent.filter((name) => WRITES.includes(name))).toEqual([]);
  });
});

describe('archiver: uploads that land while a build runs', () => {
  it('builds again when a re-POST lands during the build, and ends with the newer files', async () => {
    const id = 'post_during_build';
    await submit(id, { 'main.c': 'v1\n', 'job-config.yml': 'c' });
    let reposted = false;
    const hook = beforeStoreCall(async (command) => {
      if (reposted || command.name !== 'uploadStream' || command.key !== archiveKeyOf(id)) return;
      reposted = true;
      await submit(id, { 'main.c': 'v2\n', 'added.txt': 'new' });
    });
    let archiveWrites: string[];
    try {
      const sent = spyOnStore();
      try {
        await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
        archiveWrites = sent.calls
          .filter((call) => call.name === 'uploadStream' && call.key === archiveKeyOf(id))
          .map((call) => call.name);
      } finally {
        sent.remove();
      }
    } finally {
      hook.remove();
    }
    expect(reposted).toBe(true);
    expect(archiveWrites).toHaveLength(2);
    expect(await storedEntries(id)).toEqual(
      expectedEntries(id, { 'added.txt': 'new', 'job-config.yml': 'c', 'main.c': 'v2\n' }),
    );
    // And the result is current: a late event changes nothing.
    const late = await commandsDuring(() => archiver(manifestEvent(id)));
    expect(late.filter((name) => WRITES.includes(name))).toEqual([]);
  });

  it('gives up (rejects, so Lambda retries) when the submission keeps changing, and the retry builds the last one', async () => {
    const id = 'keeps_changing';
    await submit(id, { 'n.txt': '0' });
    let version = 0;
    let busy = false;
    const hook = beforeStoreCall(async (command) => {
      if (busy || command.name !== 'uploadStream' || command.key !== archiveKeyOf(id)) return;
      busy = true;
      try {
        version++;
        await submit(id, { 'n.txt': String(version) });
      } finally {
        busy = false;
      }
    });
    let result: PromiseSettledResult<void>;
    try {
      ({ result } = await captureLogs(() => archiver(manifestEvent(id))));
    } finally {
      hook.remove();
    }
    expect(result.status).toBe('rejected');
    expect(version).toBe(3);
    await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
    expect(await storedEntries(id)).toEqual([{ name: `${id}/n.txt`, data: '3' }]);
  });

  it('rejects without writing an archive when the stored manifest is not a manifest', async () => {
    const id = 'garbage_manifest';
    await bucket.put(`manifests/${id}.json`, '{"not":"a manifest"');
    await expect(archiver(manifestEvent(id))).rejects.toThrow(id);
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
  });
});

describe('archiver: what the archive holds', () => {
  it('keeps empty files, unicode and spaces in paths, and every byte value', async () => {
    const id = 'contents';
    // Large enough to be deflated (STORE_BELOW_BYTES); the other files are small, so stored.
    const allBytes = Buffer.from(Array.from({ length: 8 * 1024 }, (_, i) => i % 256));
    const { body, contentType } = multipart([
      file('empty.txt', ''),
      file('žluťoučký kůň/čaj.c', 'unicode\n'),
      file('my dir/file with spaces.txt', 'spaces\n'),
      file('bin/all.bytes', allBytes),
      file('lib/already.zip', allBytes),
    ]);
    await storeSubmission(id, () => parseFileParts(contentType, body));
    await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
    const entries = await readZip(await getBytes(archiveKeyOf(id)));
    expect(entries.map((entry) => [entry.name, entry.data.length, entry.compressionMethod])).toEqual([
      [`${id}/bin/all.bytes`, 8 * 1024, 8],
      [`${id}/empty.txt`, 0, 0],
      [`${id}/lib/already.zip`, 8 * 1024, 0],
      [`${id}/my dir/file with spaces.txt`, 7, 0],
      [`${id}/žluťoučký kůň/čaj.c`, 8, 0],
    ]);
    expect(entries[0]?.data.equals(allBytes)).toBe(true);
    expect(entries[2]?.data.equals(allBytes)).toBe(true);
    expect(entries[4]?.data.toString('utf8')).toBe('unicode\n');
  });

  it('archives a submission of many files (more than are read ahead) in path order', async () => {
    const id = 'many_files';
    const files: Record<string, string> = {};
    for (let i = 0; i < 40; i++) files[`f/${String(i).padStart(3, '0')}.txt`] = `file ${i}\n`.repeat(i + 1);
    await submit(id, files);
    await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
    expect(await storedEntries(id)).toEqual(expectedEntries(id, files));
  });

  it('fails the build of many files when one in the middle is missing, and leaves no archive', async () => {
    const id = 'many_missing';
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`f/${String(i).padStart(3, '0')}.txt`] = `file ${i}\n`;
    await submit(id, files);
    await bucket.remove(`submissions/${id}/f/017.txt`);
    await expect(archiver(manifestEvent(id))).rejects.toThrow(id);
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
    // The build rejects while reads it opened ahead of the missing file may still be in flight; let them finish
    // before the server closes (they are released by the build, not awaited by it).
    await new Promise((resolve) => setTimeout(resolve, 200));
  });
});
