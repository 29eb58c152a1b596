/**
 * What only a faithful S3 can show (run against LocalStack, never the embedded s3rver): conditional writes that
 * really are create-only, checksums that S3 really verifies, multipart uploads that really are aborted, and
 * listings that really page past 1,000 keys.
 *
 * Runs only with S3_ENDPOINT set, in a bucket of its own (BUCKET): the first test turns versioning on for it.
 */

import { createHash, randomBytes } from 'node:crypto';
import {
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import type { InitializeMiddleware } from '@smithy/types';
import { config } from '../../lib/config';
import { archiveCurrentManifest } from '../../lib/fileserver/archive-refresh';
import { entryName, MANIFEST_DIGEST_METADATA } from '../../lib/fileserver/archive-zip';
import { archiveKey, taskKey } from '../../lib/fileserver/keys';
import { manifestDigest } from '../../lib/fileserver/manifest';
import { readManifest, storeSubmission } from '../../lib/fileserver/submissions';
import { parseFileParts } from '../../lib/http/multipart';
import { s3 } from '../../lib/storage/s3/s3-client';
import { PreconditionFailed, putObject } from '../../lib/storage/store';
import { injectS3Fault, spyOnS3 } from '../handlers/support/s3-spy';
import { freshId } from '../support/fresh-id';
import { send } from '../support/http';
import { file, multipart, type Part } from '../support/multipart';
import type { TestStack } from '../support/stack';
import { readZip } from '../support/zip';
import { startFaithfulStack } from './support/faithful-stack';

jest.setTimeout(180_000);
// The streamed builds (multipart uploads, listings past a page) are under test: POSTs leave every build to them.
process.env.ARCHIVE_IN_POST_MAX_BYTES = '0';

let stack: TestStack;
beforeAll(async () => {
  stack = await startFaithfulStack();
  // "Written once" is only visible with versioning: every overwrite would leave a version behind.
  await stack.s3.send(
    new PutBucketVersioningCommand({ Bucket: stack.bucket, VersioningConfiguration: { Status: 'Enabled' } }),
  );
});
afterAll(async () => {
  await stack?.close();
});

const sha1 = (data: Buffer | string): Buffer => createHash('sha1').update(data).digest();

const exists = (key: string): Promise<boolean> => stack.exists(key);

const storedBytes = (key: string): Promise<Buffer> => stack.storedBytes(key);

/**
 * Holds every PutObject of `key` by the handlers' S3 client until `heads` HeadObjects of it have been answered, so
 * that concurrent uploads all find the key absent and all race to create it (no luck needed).
 */
function raceCreatesOf(key: string, heads: number): { puts(): number; remove(): void } {
  const name = 'race-creates';
  let headsAnswered = 0;
  let puts = 0;
  let release: () => void = () => undefined;
  const allHeadsAnswered = new Promise<void>((resolve) => {
    release = resolve;
  });
  // A safety net: a request that never sends its HEAD must not hang the test.
  const timer = setTimeout(release, 10_000);
  const middleware: InitializeMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next, context) => async (args) => {
    const input = args.input as { Key?: string };
    if (input.Key !== key) return next(args);
    if (context.commandName === 'HeadObjectCommand') {
      try {
        return await next(args);
      } finally {
        if (++headsAnswered === heads) release();
      }
    }
    if (context.commandName === 'PutObjectCommand') {
      await allHeadsAnswered;
      puts++;
    }
    return next(args);
  };
  s3().middlewareStack.add(middleware, { step: 'initialize', name, priority: 'normal' });
  return {
    puts: () => puts,
    remove: () => {
      clearTimeout(timer);
      s3().middlewareStack.remove(name);
    },
  };
}

async function postSubmission(id: string, parts: readonly Part[]) {
  const { body, contentType } = multipart(parts);
  return send(stack.url, 'POST', `/submissions/${id}`, { body, headers: { 'Content-Type': contentType } });
}

describe('exercise files are written exactly once', () => {
  it('20 concurrent uploads of the same content all answer its hash and leave one version of one object', async () => {
    const content = Buffer.from(`exercise input ${randomBytes(16).toString('hex')}\n`);
    const hash = sha1(content).toString('hex');
    const key = taskKey(hash);

    const race = raceCreatesOf(key, 20);
    let answers: Awaited<ReturnType<typeof send>>[];
    try {
      answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const { body, contentType } = multipart([file(`input${i}.txt`, content)]);
          return send(stack.url, 'POST', '/exercises', { body, headers: { 'Content-Type': contentType } });
        }),
      );
    } finally {
      race.remove();
    }
    // Every upload found the key absent and tried to create it: S3 let exactly one through.
    expect(race.puts()).toBe(20);

    answers.forEach((answer, i) => {
      expect({ i, status: answer.status, body: answer.body.toString('utf8') }).toMatchObject({ i, status: 200 });
      expect(answer.json()).toEqual({ result: 'OK', files: { [`input${i}.txt`]: `/exercises/${hash}` } });
    });
    expect((await stack.keys()).filter((k) => k.startsWith(`tasks/${hash[0]}/${hash}`))).toEqual([key]);
    const versions = await stack.s3.send(new ListObjectVersionsCommand({ Bucket: stack.bucket, Prefix: key }));
    expect((versions.Versions ?? []).filter((v) => v.Key === key)).toHaveLength(1);
    expect((versions.DeleteMarkers ?? []).filter((m) => m.Key === key)).toHaveLength(0);
    expect(await storedBytes(key)).toEqual(content);

    // S3's own answer to a create-only write on an existing key (412) reaches lib/ as PreconditionFailed.
    await expect(putObject(key, content, { createOnly: true })).rejects.toBeInstanceOf(PreconditionFailed);
    const after = await stack.s3.send(new ListObjectVersionsCommand({ Bucket: stack.bucket, Prefix: key }));
    expect((after.Versions ?? []).filter((v) => v.Key === key)).toHaveLength(1);
  });
});

describe('S3 verifies x-amz-checksum-sha1', () => {
  const hello = Buffer.from('hello\n');
  const helloSha1 = sha1(hello).toString('base64');

  it('refuses bytes that do not match the checksum, and stores nothing', async () => {
    const key = `faithful/${freshId('checksum')}`;
    // S3's own BadDigest, as the storage boundary's domain error (400 bad-digest) that names it as its cause.
    await expect(putObject(key, Buffer.from('other bytes'), { checksumSha1: helloSha1 })).rejects.toMatchObject({
      name: 'ChecksumMismatchError',
      statusCode: 400,
      code: 'bad-digest',
      cause: { name: 'BadDigest', $metadata: { httpStatusCode: 400 } },
    });
    expect(await exists(key)).toBe(false);
  });

  it('accepts bytes that match the checksum', async () => {
    const key = `faithful/${freshId('checksum')}`;
    await expect(putObject(key, hello, { checksumSha1: helloSha1 })).resolves.toEqual({
      etag: expect.any(String),
    });
    expect(await storedBytes(key)).toEqual(hello);
  });
});

describe('archives over real multipart uploads', () => {
  it('a build that fails after a part was uploaded aborts its upload; the next build stores the full archive', async () => {
    const id = freshId('multipart');
    // Larger than one 5 MiB part each, so the upload is multipart and has a part stored before the failure.
    const files: Record<string, Buffer> = {
      'a.bin': randomBytes(6 * 1024 * 1024),
      'b.bin': randomBytes(6 * 1024 * 1024),
      'job-config.yml': Buffer.from('submission:\n  job-id: faithful\n'),
    };
    // Through lib/ directly: a request through the local server is capped at 10 MB.
    const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
    await storeSubmission(id, () => parseFileParts(contentType, body));
    const key = archiveKey(id);

    const spy = spyOnS3();
    let fileGets = 0;
    const fault = injectS3Fault(
      (command) =>
        command.name === 'GetObjectCommand' &&
        String(command.input.Key).startsWith(`submissions/${id}/`) &&
        ++fileGets === 2,
    );
    try {
      await expect(archiveCurrentManifest(id, 'prefixed')).rejects.toThrow();
    } finally {
      fault.remove();
      spy.remove();
    }
    expect(fault.failed).toHaveLength(1);
    // The failure really hit a multipart upload with a part stored, and lib/ asked S3 to abort it.
    expect(spy.names()).toEqual(
      expect.arrayContaining(['CreateMultipartUploadCommand', 'UploadPartCommand', 'AbortMultipartUploadCommand']),
    );
    expect(spy.names()).not.toContain('CompleteMultipartUploadCommand');
    const uploads = await stack.s3.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket, Prefix: key }));
    expect((uploads.Uploads ?? []).filter((u) => u.Key === key)).toEqual([]);
    expect(await exists(key)).toBe(false);

    await expect(archiveCurrentManifest(id, 'prefixed')).resolves.toBe('built');
    const entries = await readZip(await storedBytes(key));
    expect(entries.map((e) => e.name)).toEqual(Object.keys(files).map((path) => `${id}/${path}`));
    for (const entry of entries) {
      expect(entry.data.equals(files[entry.name.slice(id.length + 1)] as Buffer)).toBe(true);
    }
    const manifest = await readManifest(id);
    if (!manifest) throw new Error('the manifest is missing');
    const head = await stack.s3.send(new HeadObjectCommand({ Bucket: stack.bucket, Key: key }));
    expect(head.Metadata?.[MANIFEST_DIGEST_METADATA]).toBe(manifestDigest(manifest));
    const left = await stack.s3.send(new ListMultipartUploadsCommand({ Bucket: stack.bucket, Prefix: key }));
    expect((left.Uploads ?? []).filter((u) => u.Key === key)).toEqual([]);
  });
});

describe('listings beyond one page', () => {
  it('a submission of 1,200 files stores all 1,200 and archives all 1,200', async () => {
    const id = freshId('many');
    const files = new Map<string, Buffer>();
    for (let i = 1; i <= 1200; i++) {
      const path = `data/f${String(i).padStart(4, '0')}.txt`;
      files.set(path, Buffer.from(`file ${i} of ${id}\n`));
    }

    const answer = await postSubmission(
      id,
      [...files].map(([path, data]) => file(path, data)),
    );
    expect({ status: answer.status, body: answer.body.toString('utf8') }).toMatchObject({ status: 200 });

    const stored = (await stack.keys()).filter((k) => k.startsWith(`submissions/${id}/`));
    expect(stored).toHaveLength(1200);
    expect(stored).toEqual([...files.keys()].map((path) => `submissions/${id}/${path}`).sort());

    const archive = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    expect(archive.status).toBe(200);
    const entries = await readZip(archive.body);
    expect(entries).toHaveLength(1200);
    const layout = config().archiveLayout;
    const byName = new Map(entries.map((e) => [e.name, e.data]));
    const missing = [...files.keys()].filter((path) => !byName.has(entryName(id, path, layout)));
    expect(missing).toEqual([]);
    for (const [path, data] of files) expect(byName.get(entryName(id, path, layout))?.equals(data)).toBe(true);
  });
});
