/**
 * The two ways the folder store reads and writes (docs/embedded-store.md, "Cost per operation"): small objects in
 * a few synchronous calls, read whole; large ones, streams and `--fsync` asynchronously, streamed. Whichever way an
 * object is written and read, a reader gets the same bytes, size, ETag and metadata, at the size bounds and one byte
 * over them; missing objects, folders deleted behind the store's back and files deleted while open are handled on
 * both.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  FolderStore,
  SYNC_READ_MAX_FILE_BYTES,
  SYNC_WRITE_MAX_FILE_BYTES,
} from '../../lib/storage/folder-store/folder-store';
import { objectPath } from '../../lib/storage/folder-store/key-path';
import { PreconditionFailed } from '../../lib/storage/object-store';
import { TooLargeToReadError } from '../../lib/util/streams';
import { thrown } from '../support/thrown';

let root: string;
let store: FolderStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'folder-store-cost-'));
  store = await FolderStore.open({ directory: join(root, 'store'), bucket: 'cost-tests' });
});

afterAll(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

const fileOf = (key: string): string => join(root, 'store', 'objects', objectPath(key));
function present<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('The object is missing.');
  return value;
}

const md5 = (data: Buffer): string => `"${createHash('md5').update(data).digest('hex')}"`;

async function streamed(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** How many bytes the store adds to an object stored at `key` with these options (the metadata trailer). */
async function overheadAt(key: string, options: { contentType: string; metadata: Record<string, string> }) {
  await store.putObject(key, Buffer.from('probe'), options);
  return (await stat(fileOf(key))).size - 'probe'.length;
}

/** Reads `key` every way a client of the store can, and checks each against `bytes`. */
async function expectStored(
  key: string,
  bytes: Buffer,
  options: { contentType: string; metadata: Record<string, string> },
) {
  const head = await store.headObject(key);
  expect(head).toMatchObject({ size: bytes.length, etag: md5(bytes), ...options });
  const viaBytes = await store.getObject(key);
  expect(viaBytes).toMatchObject({ size: bytes.length, etag: md5(bytes), ...options });
  expect((await store.readObjectBytes(key, present(viaBytes), bytes.length)).equals(bytes)).toBe(true);
  const viaStream = await store.getObject(key);
  expect((await streamed(present(viaStream).body)).equals(bytes)).toBe(true);
  const prefix = await store.getObject(key, { firstBytes: 1000 });
  expect(prefix?.size).toBe(bytes.length);
  expect((await streamed(present(prefix).body)).equals(bytes.subarray(0, 1000))).toBe(true);
  const opened = await store.openObject(key);
  expect((await streamed(present(opened).stream(10, 19))).equals(bytes.subarray(10, 20))).toBe(true);
}

describe('at the size bounds', () => {
  const options = { contentType: 'application/zip', metadata: { revision: '7' } };

  it('writes an object whose file is exactly the synchronous write bound, and one byte over, each whole', async () => {
    const overhead = await overheadAt('bounds/write/a', options);
    const writev = jest.spyOn(fs, 'writevSync');
    try {
      for (const [key, fileSize, synchronous] of [
        ['bounds/write/a', SYNC_WRITE_MAX_FILE_BYTES, true],
        ['bounds/write/b', SYNC_WRITE_MAX_FILE_BYTES + 1, false],
      ] as const) {
        writev.mockClear();
        const bytes = randomBytes(fileSize - overhead);
        const { etag } = await store.putObject(key, bytes, options);
        expect(etag).toBe(md5(bytes));
        expect((await stat(fileOf(key))).size).toBe(fileSize);
        // The test covers both ways of writing: the bound decides which one.
        expect(writev.mock.calls.length > 0).toBe(synchronous);
        await expectStored(key, bytes, options);
      }
    } finally {
      writev.mockRestore();
    }
  });

  it('reads an object whose file is exactly the whole-read bound whole, and one byte over as a stream, the same', async () => {
    const overhead = await overheadAt('bounds/read/a', options);
    for (const [key, fileSize, whole] of [
      ['bounds/read/a', SYNC_READ_MAX_FILE_BYTES, true],
      ['bounds/read/b', SYNC_READ_MAX_FILE_BYTES + 1, false],
    ] as const) {
      const bytes = randomBytes(fileSize - overhead);
      // Written as a stream, the other way of writing: what was streamed in reads back the same either way.
      await store.putStream(key, Readable.from([bytes.subarray(0, 5000), bytes.subarray(5000)]), options);
      expect((await stat(fileOf(key))).size).toBe(fileSize);
      const opened = await store.openObject(key);
      expect(opened?.bytes !== undefined).toBe(whole);
      await opened?.close();
      await expectStored(key, bytes, options);
    }
  });

  it('refuses to hand over more bytes than asked for, from an object read whole or streamed', async () => {
    await store.putObject('bounds/limit/small', randomBytes(100));
    await store.putObject('bounds/limit/large', randomBytes(SYNC_READ_MAX_FILE_BYTES + 10));
    for (const key of ['bounds/limit/small', 'bounds/limit/large']) {
      const object = await store.getObject(key);
      expect(await thrown(store.readObjectBytes(key, present(object), 99))).toBeInstanceOf(TooLargeToReadError);
    }
  });

  it('checks create-only and If-Match on both ways of writing', async () => {
    for (const size of [10, SYNC_WRITE_MAX_FILE_BYTES + 1]) {
      const key = `bounds/conditional/${size}`;
      const first = await store.putObject(key, randomBytes(size), { createOnly: true });
      expect(await thrown(store.putObject(key, randomBytes(size), { createOnly: true }))).toBeInstanceOf(
        PreconditionFailed,
      );
      const next = randomBytes(size);
      await store.putObject(key, next, { ifMatch: first.etag });
      expect(await thrown(store.putObject(key, randomBytes(size), { ifMatch: first.etag }))).toBeInstanceOf(
        PreconditionFailed,
      );
      expect((await store.headObject(key))?.etag).toBe(md5(next));
    }
  });
});

describe('missing objects', () => {
  it('are undefined to HEAD, GET and open, under a missing folder or an existing one', async () => {
    await store.putObject('missing/here/x', Buffer.from('x'));
    for (const key of ['missing/here/y', 'missing/nowhere/y', 'missing/here/x/y', 'nothing']) {
      expect(await store.headObject(key)).toBeUndefined();
      expect(await store.getObject(key)).toBeUndefined();
      expect(await store.openObject(key)).toBeUndefined();
    }
  });
});

describe('folders deleted behind the store’s back', () => {
  it('are made again by the next write into them, small or large, new key or overwrite', async () => {
    for (const size of [10, SYNC_WRITE_MAX_FILE_BYTES + 1]) {
      const folder = `gone/${size}/sub`;
      await store.putObject(`${folder}/a`, randomBytes(size));
      await rm(join(root, 'store', 'objects', objectPath(`gone/${size}/x`)).replace(/x$/, ''), {
        recursive: true,
      });
      expect(await store.headObject(`${folder}/a`)).toBeUndefined();
      const again = randomBytes(size);
      await store.putObject(`${folder}/a`, again);
      await store.putObject(`${folder}/b`, again);
      expect(
        (await store.readObjectBytes('a', present(await store.getObject(`${folder}/a`)), size)).equals(again),
      ).toBe(true);
      expect((await store.headObject(`${folder}/b`))?.etag).toBe(md5(again));
    }
  });
});

describe('an object deleted or replaced while it is open', () => {
  it('is still read whole, in the version that was opened, small or large', async () => {
    for (const size of [1000, SYNC_READ_MAX_FILE_BYTES + 1]) {
      const key = `open/${size}`;
      const first = randomBytes(size);
      await store.putObject(key, first);
      const deleted = await store.openObject(key);
      const replacedToo = await store.getObject(key);
      await store.deleteObject(key);
      expect(await store.headObject(key)).toBeUndefined();
      await store.putObject(key, randomBytes(size));
      expect((await streamed(present(deleted).stream(0, size - 1))).equals(first)).toBe(true);
      expect((await streamed(present(replacedToo).body)).equals(first)).toBe(true);
    }
  });
});
