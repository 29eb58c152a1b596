/**
 * The folder store itself (lib/storage/folder-store/folder-store.ts), on a real folder: the S3 rules this service relies on,
 * enforced locally (conditional writes under concurrency, checksums), keys S3 accepts that s3rver could not store,
 * a full disk, readers racing writers, and reopening a folder after a process died.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { InsufficientStorageError } from '../../lib/errors';
import { FolderStore, SYNC_WRITE_MAX_FILE_BYTES } from '../../lib/storage/folder-store/folder-store';
import { ChecksumMismatchError, PreconditionFailed } from '../../lib/storage/object-store';
import { fillTheDisk } from '../support/full-disk';
import { thrown } from '../support/thrown';

let root: string;
let store: FolderStore;

beforeAll(async () => {
  process.env.BUCKET = 'store-tests';
  root = await mkdtemp(join(tmpdir(), 'folder-store-tests-'));
  store = await FolderStore.open({ directory: join(root, 'store'), bucket: 'store-tests' });
});

afterAll(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

async function read(key: string): Promise<Buffer | undefined> {
  const object = await store.getObject(key);
  return object && store.readObjectBytes(key, object, Number.MAX_SAFE_INTEGER);
}

const sha1 = (data: Buffer): string => createHash('sha1').update(data).digest('base64');

describe('keys S3 accepts', () => {
  const keys = [
    `submissions/long/${'s'.repeat(241)}/main.c`,
    `submissions/long/${'t'.repeat(800)}`,
    'x._S3rver_object/y',
    'x._S3rver_object',
    'x',
    'x/y',
    'a//b/',
    '../escape',
    'tmp/not-the-store-tmp',
    'lock',
    'credentials.json',
    'folder-store.json',
    'objects/x',
    'é'.repeat(512),
  ];

  it('stores and lists every one, each with its own bytes, and none touches the store’s own files', async () => {
    for (const [index, key] of keys.entries()) await store.putObject(key, Buffer.from(`object ${index}`));
    for (const [index, key] of keys.entries()) expect((await read(key))?.toString()).toBe(`object ${index}`);
    expect(await store.list()).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    expect(await store.list('x')).toEqual(['x', 'x._S3rver_object', 'x._S3rver_object/y', 'x/y']);
    expect((await readdir(join(root, 'store'))).sort()).toEqual([
      'credentials.json',
      'folder-store.json',
      'lock',
      'objects',
      'tmp',
    ]);
    // The store can be reopened with all of it (the lock is its own).
    expect(await store.bucketReachable()).toBe(true);
  });

  it('refuses a key over 1,024 bytes with a 400 that names the limit', async () => {
    const err = await thrown(store.putObject('k'.repeat(1025), Buffer.from('x')));
    expect(err).toMatchObject({ statusCode: 400, code: 'invalid-key' });
  });
});

describe('conditional writes are atomic', () => {
  it('lets exactly one of 20 concurrent create-only writes of one key succeed, and stores its bytes', async () => {
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.from(`writer ${i} ${randomBytes(8).toString('hex')}`));
    const results = await Promise.allSettled(
      bodies.map((body) => store.putObject('race/create-only', body, { createOnly: true })),
    );
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailed);
    expect(await read('race/create-only')).toEqual(bodies[won[0] as number]);
  });

  it('lets exactly one of 20 concurrent If-Match writes over one version succeed', async () => {
    const { etag } = await store.putObject('race/if-match', Buffer.from('v0'));
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.from(`v1 by ${i}`));
    const results = await Promise.allSettled(
      bodies.map((body) => store.putObject('race/if-match', body, { ifMatch: etag })),
    );
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailed);
    expect(await read('race/if-match')).toEqual(bodies[won[0] as number]);
  });

  it('refuses If-Match of a version that is gone, and If-Match of a key that has none', async () => {
    await store.putObject('cond/a', Buffer.from('one'));
    const { etag: old } = await store.putObject('cond/a', Buffer.from('two'));
    await store.putObject('cond/a', Buffer.from('three'));
    expect(await thrown(store.putObject('cond/a', Buffer.from('four'), { ifMatch: old }))).toBeInstanceOf(
      PreconditionFailed,
    );
    expect(await thrown(store.putObject('cond/none', Buffer.from('x'), { ifMatch: old }))).toBeInstanceOf(
      PreconditionFailed,
    );
    expect((await read('cond/a'))?.toString()).toBe('three');
    expect(await store.headObject('cond/none')).toBeUndefined();
  });

  it('refuses a read If-Match of another version', async () => {
    const { etag } = await store.putObject('cond/read', Buffer.from('first'));
    await store.putObject('cond/read', Buffer.from('second'));
    expect(await thrown(store.getObject('cond/read', { ifMatch: etag }))).toBeInstanceOf(PreconditionFailed);
  });
});

describe('checksums', () => {
  it('stores bytes that match their SHA-1', async () => {
    const data = randomBytes(1000);
    await store.putObject('sum/ok', data, { checksumSha1: sha1(data) });
    expect(await read('sum/ok')).toEqual(data);
  });

  it('refuses bytes that do not match, and keeps what was stored before', async () => {
    await store.putObject('sum/bad', Buffer.from('before'));
    const err = await thrown(
      store.putObject('sum/bad', Buffer.from('after'), { checksumSha1: sha1(Buffer.from('x')) }),
    );
    expect(err).toBeInstanceOf(ChecksumMismatchError);
    expect(err).toMatchObject({ statusCode: 400, code: 'bad-digest' });
    expect((await read('sum/bad'))?.toString()).toBe('before');
    expect(await readdir(join(root, 'store', 'tmp'))).toEqual([]);
  });
});

describe('readers racing writers', () => {
  it('only ever reads a whole version while the object is rewritten', async () => {
    const versions = [randomBytes(2 * 1024 * 1024), randomBytes(1024 * 1024), randomBytes(3 * 1024 * 1024)];
    await store.putObject('race/rewritten', versions[0] as Buffer);
    const digests = new Set(versions.map((v) => createHash('sha256').update(v).digest('hex')));
    const writes = Array.from({ length: 12 }, (_, i) => store.putObject('race/rewritten', versions[i % 3] as Buffer));
    const reads = Array.from({ length: 40 }, async () => {
      const bytes = await read('race/rewritten');
      return createHash('sha256')
        .update(bytes ?? Buffer.alloc(0))
        .digest('hex');
    });
    const seen = await Promise.all(reads);
    await Promise.all(writes);
    for (const digest of seen) expect(digests.has(digest)).toBe(true);
  });

  it('keeps an opened version readable whole after it was replaced', async () => {
    const first = randomBytes(512 * 1024);
    await store.putObject('race/opened', first);
    const object = await store.getObject('race/opened');
    await store.putObject('race/opened', Buffer.from('replaced'));
    expect(await store.readObjectBytes('race/opened', object as NonNullable<typeof object>, 1 << 30)).toEqual(first);
  });
});

describe('a stream that fails midway', () => {
  it('leaves the previous object and no temporary file', async () => {
    await store.putObject('stream/x', Buffer.from('previous'));
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(64 * 1024, 1));
        this.destroy(new Error('the client went away'));
      },
    });
    await expect(store.uploadStream('stream/x', failing, { contentType: 'application/zip' })).rejects.toThrow(
      'the client went away',
    );
    expect((await read('stream/x'))?.toString()).toBe('previous');
    expect(await readdir(join(root, 'store', 'tmp'))).toEqual([]);
  });

  it('refuses a body shorter than declared and stores nothing', async () => {
    await expect(
      store.putStream('stream/short', Readable.from([Buffer.from('abc')]), { expectedSize: 10 }),
    ).rejects.toThrow(/3 bytes; 10 were declared/);
    expect(await store.headObject('stream/short')).toBeUndefined();
  });
});

describe('a full disk', () => {
  it('answers 507 storage-full, stores nothing, keeps the previous version and the store usable', async () => {
    await store.putObject('full/x', Buffer.from('kept'));
    // A real full disk cannot be made here without privileges: ENOSPC is injected where write(2) returns it.
    const restore = await fillTheDisk('until-restored');
    try {
      const err = await thrown(store.putObject('full/x', randomBytes(100_000)));
      expect(err).toBeInstanceOf(InsufficientStorageError);
      expect(err).toMatchObject({ statusCode: 507, code: 'storage-full' });
      // Larger than a small write: the other way of writing (docs/embedded-store.md, "Cost per operation").
      const large = await thrown(store.putObject('full/x', randomBytes(SYNC_WRITE_MAX_FILE_BYTES + 1)));
      expect(large).toBeInstanceOf(InsufficientStorageError);
      const streamed = await thrown(
        store.uploadStream('full/y', Readable.from([randomBytes(10)]), { contentType: 'x' }),
      );
      expect(streamed).toBeInstanceOf(InsufficientStorageError);
    } finally {
      restore();
    }
    expect((await read('full/x'))?.toString()).toBe('kept');
    expect(await store.headObject('full/y')).toBeUndefined();
    expect(await readdir(join(root, 'store', 'tmp'))).toEqual([]);
    await store.putObject('full/after', Buffer.from('space again'));
    expect((await read('full/after'))?.toString()).toBe('space again');
  });
});

describe('the folder', () => {
  it('is 0700 with 0600 files, so no other user of the machine can read or write it', async () => {
    await store.putObject('perm/x', Buffer.from('secret'));
    expect((await stat(join(root, 'store'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(root, 'store', 'credentials.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'store', 'objects', 'perm%', 'x'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(root, 'store', 'objects', 'perm%'))).mode & 0o777).toBe(0o700);
  });

  it('refuses a second store on a folder in use, and a folder that holds something else', async () => {
    await expect(FolderStore.open({ directory: join(root, 'store'), bucket: 'b' })).rejects.toThrow(
      /in use by process/,
    );
    const other = join(root, 'other');
    await FolderStore.open({ directory: other, bucket: 'b' }).then((s) => s.close());
    const foreign = join(root, 'foreign');
    await FolderStore.open({ directory: join(foreign, 'sub'), bucket: 'b' }).then((s) => s.close());
    await writeFile(join(foreign, 'notes.txt'), 'mine');
    await expect(FolderStore.open({ directory: foreign, bucket: 'b' })).rejects.toThrow(/not a folder store/);
  });

  it('reopens a folder whose process died: its lock is taken over, cut-short writes are gone, objects stay', async () => {
    const directory = join(root, 'reopened');
    const first = await FolderStore.open({ directory, bucket: 'b' });
    await first.putObject('kept', Buffer.from('acknowledged'));
    // What a killed process leaves: its lock (a pid that no longer runs) and a temporary file it was writing.
    await writeFile(join(directory, 'lock'), '999999999');
    await writeFile(join(directory, 'tmp', 'cut-short'), 'partial');
    const second = await FolderStore.open({ directory, bucket: 'b' });
    try {
      const object = await second.getObject('kept');
      expect((await second.readObjectBytes('kept', object as NonNullable<typeof object>, 100)).toString()).toBe(
        'acknowledged',
      );
      expect(await readdir(join(directory, 'tmp'))).toEqual([]);
      expect(await second.list()).toEqual(['kept']);
    } finally {
      await second.close();
    }
  });

  it('reopens a folder whose process was killed but not yet reaped (a zombie): it runs no more', async () => {
    const directory = join(root, 'zombie');
    await FolderStore.open({ directory, bucket: 'b' }).then((s) => s.close());
    // `sleep 0 &` exits at once; its parent then becomes `sleep 30` (exec), which never reaps it: a zombie, as a
    // server killed with -9 is until npm or the shell that started it waits for it.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [line] = (await once(parent.stdout, 'data')) as [Buffer];
      const zombie = Number(line.toString().trim());
      const deadline = Date.now() + 10_000;
      while (!(await readFile(`/proc/${zombie}/stat`, 'utf8')).match(/\) Z /) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(await readFile(`/proc/${zombie}/stat`, 'utf8')).toMatch(/\) Z /);
      await writeFile(join(directory, 'lock'), String(zombie));
      const reopened = await FolderStore.open({ directory, bucket: 'b' });
      await reopened.close();
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
