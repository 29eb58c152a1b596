/**
 * Archive builds that fail half-way (docs/design.md "Archive on upload"): S3 fails a read in the middle of a
 * build, which a real server cannot be made to do on demand, so a middleware on the handlers' own S3 client
 * (lib/storage/s3/s3-client.ts) injects the failure. A failed build must reject (so that Lambda retries the event), leave no object
 * at the archive key, abort its multipart upload, and leave nothing behind that breaks the next build.
 */
import { createHash, randomBytes } from 'node:crypto';
import { handler as archiver } from '../../functions/archiver';
import { UPLOAD_PART_SIZE } from '../../lib/storage/store';
import { readZip } from '../support/zip';
import { storedBytes, submit } from './support/archives';
import { captureLogs } from './support/logs';
import { manifestEvent } from './support/s3-events';
import { injectS3Fault, type S3Fault, type S3Spy, s3InternalError, spyOnS3 } from './support/s3-spy';
import { BUCKET, useTestStore } from './support/store';

// Builds of the archiver and of GETs are under test: POSTs leave every build to them (lib/config.ts).
const bucket = useTestStore({ ARCHIVE_IN_POST_MAX_BYTES: '0' });

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const archiveKeyOf = (id: string): string => `submission_archives/${id}.zip`;

const getBytes = (key: string): Promise<Buffer> => storedBytes(bucket, key);

/** Fails the `n`-th read of one of `id`'s submitted files (the manifest reads are not counted). */
function failNthFileRead(id: string, n: number): S3Fault {
  let reads = 0;
  return injectS3Fault(
    (command) =>
      command.name === 'GetObjectCommand' &&
      String(command.input.Key).startsWith(`submissions/${id}/`) &&
      ++reads === n,
    () => s3InternalError(),
  );
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});

/** Lets pending rejections surface: Node reports them once the microtask queue has drained. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

let spy: S3Spy | undefined;
let fault: S3Fault | undefined;
afterEach(() => {
  spy?.remove();
  fault?.remove();
  spy = undefined;
  fault = undefined;
});

describe('a read that fails in the middle of a build', () => {
  it('rejects and leaves no archive for a small submission (single PutObject path)', async () => {
    const id = 'fail_small';
    await submit(id, { 'a.txt': 'first', 'b.txt': 'second', 'c.txt': 'third' });
    spy = spyOnS3();
    fault = failNthFileRead(id, 2);

    const { result, lines } = await captureLogs(() => archiver(manifestEvent(id)));
    await settle();

    expect(result).toEqual({
      status: 'rejected',
      reason: expect.objectContaining({ message: expect.stringContaining(id) }),
    });
    expect(fault.failed.map((command) => command.input.Key)).toEqual([`submissions/${id}/b.txt`]);
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: 'archiver: build failed',
        submission: id,
        // S3's 500, left after the SDK's retries, is reported as storage being briefly unavailable.
        error: 'StorageUnavailableError',
        cause: expect.objectContaining({ error: 'InternalError' }),
      }),
    );
    const names = spy.names();
    expect(names).not.toContain('PutObjectCommand');
    expect(names).not.toContain('CreateMultipartUploadCommand');
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
    expect(await bucket.keys('submission_archives/')).toEqual([]);
    expect(unhandled).toEqual([]);

    fault.remove();
    fault = undefined;
    await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
    expect((await readZip(await getBytes(archiveKeyOf(id)))).map((e) => [e.name, e.data.toString()])).toEqual([
      [`${id}/a.txt`, 'first'],
      [`${id}/b.txt`, 'second'],
      [`${id}/c.txt`, 'third'],
    ]);
  });

  describe('of an archive larger than one upload part (multipart upload)', () => {
    const id = 'fail_large';
    const big = randomBytes(17 * 1024 * 1024);
    const small = 'int main(void) { return 0; }\n';

    beforeAll(async () => {
      expect(big.length).toBeGreaterThan(UPLOAD_PART_SIZE);
      // Sorted by path, the big file is read first, so the second read fails after a part was uploaded.
      await submit(id, { 'data/big.bin': big, 'main.c': small });
    });

    it('aborts the multipart upload, completes nothing, writes no archive and rejects', async () => {
      spy = spyOnS3();
      fault = failNthFileRead(id, 2);

      const { result, lines } = await captureLogs(() => archiver(manifestEvent(id)));
      await settle();

      expect(result.status).toBe('rejected');
      expect(fault.failed.map((command) => command.input.Key)).toEqual([`submissions/${id}/main.c`]);
      const names = spy.names();
      const created = names.indexOf('CreateMultipartUploadCommand');
      const firstPart = names.indexOf('UploadPartCommand');
      const aborted = names.indexOf('AbortMultipartUploadCommand');
      expect({ created, firstPart, aborted }).toEqual({
        created: expect.any(Number),
        firstPart: expect.any(Number),
        aborted: expect.any(Number),
      });
      expect(created).toBeGreaterThanOrEqual(0);
      expect(firstPart).toBeGreaterThan(created);
      expect(aborted).toBeGreaterThan(firstPart);
      expect(names).not.toContain('CompleteMultipartUploadCommand');
      expect(names).not.toContain('PutObjectCommand');
      // The abort names the upload that was created.
      const abort = spy.sent[aborted];
      expect(abort?.input).toEqual(
        expect.objectContaining({ Bucket: BUCKET, Key: archiveKeyOf(id), UploadId: expect.any(String) }),
      );
      expect(lines).toContainEqual(expect.objectContaining({ message: 'archiver: build failed', submission: id }));

      expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
      expect(await bucket.keys('submission_archives/')).not.toContain(archiveKeyOf(id));
      expect(unhandled).toEqual([]);
    });

    it('builds a correct archive once the fault is gone, and then finds it current', async () => {
      spy = spyOnS3();
      await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
      const names = spy.names();
      expect(names).toContain('CreateMultipartUploadCommand');
      expect(names.filter((name) => name === 'UploadPartCommand').length).toBeGreaterThanOrEqual(2);
      expect(names).toContain('CompleteMultipartUploadCommand');
      expect(names).not.toContain('AbortMultipartUploadCommand');

      const zip = await getBytes(archiveKeyOf(id));
      expect(zip.length).toBeGreaterThan(UPLOAD_PART_SIZE);
      const entries = await readZip(zip);
      expect(entries.map((entry) => entry.name)).toEqual([`${id}/data/big.bin`, `${id}/main.c`]);
      expect(entries[0]?.data.length).toBe(big.length);
      expect(sha256(entries[0]?.data ?? Buffer.alloc(0))).toBe(sha256(big));
      expect(entries[0]?.data.equals(big)).toBe(true);
      expect(entries[1]?.data.toString('utf8')).toBe(small);

      const stored = await bucket.head(archiveKeyOf(id));
      expect(stored?.ContentType).toBe('application/zip');
      expect(stored?.Metadata).toEqual({
        'manifest-sha256': expect.stringMatching(/^[0-9a-f]{64}$/),
        'archive-layout': 'prefixed',
      });

      // A duplicate event after a multipart build writes nothing: the metadata survived the multipart upload.
      spy.clear();
      await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
      expect(spy.names()).not.toEqual(
        expect.arrayContaining([expect.stringMatching(/^(PutObject|CreateMultipartUpload|UploadPart)Command$/)]),
      );
      expect(unhandled).toEqual([]);
    });

    it('aborts and leaves the previous archive when an UploadPart fails', async () => {
      const before = await getBytes(archiveKeyOf(id));
      // A re-POST of the small file makes the stored archive stale, so the next event rebuilds.
      await submit(id, { 'main.c': `${small}// v2\n` });
      spy = spyOnS3();
      fault = injectS3Fault((command) => command.name === 'UploadPartCommand');

      await expect(archiver(manifestEvent(id))).rejects.toThrow(id);
      await settle();

      const names = spy.names();
      expect(names).toContain('CreateMultipartUploadCommand');
      expect(names).toContain('AbortMultipartUploadCommand');
      expect(names).not.toContain('CompleteMultipartUploadCommand');
      expect(sha256(await getBytes(archiveKeyOf(id)))).toBe(sha256(before));
      expect(unhandled).toEqual([]);

      fault.remove();
      fault = undefined;
      await expect(archiver(manifestEvent(id))).resolves.toBeUndefined();
      const entries = await readZip(await getBytes(archiveKeyOf(id)));
      expect(entries.map((entry) => entry.name)).toEqual([`${id}/data/big.bin`, `${id}/main.c`]);
      expect(entries[0]?.data.equals(big)).toBe(true);
      expect(entries[1]?.data.toString('utf8')).toBe(`${small}// v2\n`);
    });
  });

  it('rejects and writes nothing when the single PutObject of a small archive fails', async () => {
    const id = 'fail_put';
    await submit(id, { 'a.txt': 'a' });
    fault = injectS3Fault((command) => command.name === 'PutObjectCommand');
    await expect(archiver(manifestEvent(id))).rejects.toThrow(id);
    await settle();
    expect(fault.failed).toHaveLength(1);
    expect(await bucket.exists(archiveKeyOf(id))).toBe(false);
    expect(unhandled).toEqual([]);
  });
});
