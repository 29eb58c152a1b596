/**
 * Two requests that change one submission at once (docs/design.md, "Archive on upload"): whatever order their writes
 * meet in, both answer 200 and the submission ends up with the files of both, each with its own bytes, in the
 * manifest and in the archive; and no write lands on a file that a manifest listed.
 *
 * Each race is one interleaving, injected at the storage boundary (test/support/interleave.ts), not left to timing:
 * the second request runs to its end just before the first one's manifest write (so between the first one's
 * manifest read and its write), or just before the first one's create-only write of a new path. The store decides
 * the conditions: the folder store and LocalStack's S3 (`npm run test:localstack`) themselves, s3rver through the
 * hook, which checks what s3rver ignores.
 */
import { manifestKey, submissionFileKey } from '../../lib/fileserver/keys';
import type { Manifest } from '../../lib/fileserver/manifest';
import { freshId } from '../support/fresh-id';
import { type RawAnswer, send } from '../support/http';
import { slipInBeforeWrite } from '../support/interleave';
import { file, multipart } from '../support/multipart';
import { startTestStack, type TestStack } from '../support/stack';
import { testBackend } from '../support/store-view';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** Path → content. */
type Files = Record<string, string>;

interface Request {
  /** A multipart POST /submissions/<id>, or a large upload's completion (its files uploaded beforehand). */
  kind: 'post' | 'complete';
  files: Files;
}

interface Race {
  name: string;
  /** What the submission holds before the race; none: a new submission. */
  stored?: Files;
  /** The request whose write the other one goes before; it commits last. */
  first: Request;
  /** The request that slips in. */
  second: Request;
  /** The first request's write that the second one goes before: its manifest, or the file of a new path. */
  before: 'manifest' | { file: string };
  /** Paths whose file the first request must store under a revision key, the plain key being taken. */
  revisionKeys?: string[];
}

const RACES: Race[] = [
  {
    name: 'two re-POSTs adding different paths',
    stored: { 'main.c': 'int main(void) { return 0; }\n' },
    first: { kind: 'post', files: { 'a.txt': 'first a' } },
    second: { kind: 'post', files: { 'b.txt': 'second b' } },
    before: 'manifest',
  },
  {
    name: 'two first POSTs of a new submission, different paths',
    first: { kind: 'post', files: { 'a.txt': 'first a', 'job-config.yml': 'first config' } },
    second: { kind: 'post', files: { 'b.txt': 'second b' } },
    before: 'manifest',
  },
  {
    name: 'two re-POSTs replacing the same path',
    stored: { 'main.c': 'stored main', 'other.c': 'stored other' },
    first: { kind: 'post', files: { 'main.c': 'first main', 'a.txt': 'first a' } },
    second: { kind: 'post', files: { 'main.c': 'second main', 'b.txt': 'second b' } },
    before: 'manifest',
  },
  {
    name: 'two large-upload completions of a stored submission',
    stored: { 'main.c': 'stored main' },
    first: { kind: 'complete', files: { 'data/a.bin': 'first a', 'main.c': 'first main' } },
    second: { kind: 'complete', files: { 'data/b.bin': 'second b', 'main.c': 'second main' } },
    before: 'manifest',
  },
  {
    name: 'two large-upload completions of a new submission',
    first: { kind: 'complete', files: { 'data/a.bin': 'first a' } },
    second: { kind: 'complete', files: { 'data/b.bin': 'second b' } },
    before: 'manifest',
  },
  {
    name: 'a POST racing a completion that commits first',
    stored: { 'main.c': 'stored main' },
    first: { kind: 'post', files: { 'a.txt': 'first a', 'main.c': 'first main' } },
    second: { kind: 'complete', files: { 'data/b.bin': 'second b' } },
    before: 'manifest',
  },
  {
    name: 'a completion racing a POST that commits first',
    stored: { 'main.c': 'stored main' },
    first: { kind: 'complete', files: { 'data/a.bin': 'first a' } },
    second: { kind: 'post', files: { 'b.txt': 'second b', 'main.c': 'second main' } },
    before: 'manifest',
  },
  {
    name: 'a new path written by another request between the manifest read and the create-only write',
    first: { kind: 'post', files: { 'main.c': 'first main', 'a.txt': 'first a' } },
    second: { kind: 'post', files: { 'main.c': 'second main', 'b.txt': 'second b' } },
    before: { file: 'main.c' },
    revisionKeys: ['main.c'],
  },
  {
    name: 'a new path of a stored submission written by another request before the create-only write',
    stored: { 'job-config.yml': 'stored config' },
    first: { kind: 'post', files: { 'main.c': 'first main' } },
    second: { kind: 'post', files: { 'main.c': 'second main', 'b.txt': 'second b' } },
    before: { file: 'main.c' },
    revisionKeys: ['main.c'],
  },
];

const buffers = (files: Files): Record<string, Buffer> =>
  Object.fromEntries(Object.entries(files).map(([path, text]) => [path, Buffer.from(text)]));

/** Makes `request` ready to send: a completion's grant is asked and its files uploaded now, before the race. */
async function prepare(id: string, request: Request): Promise<() => Promise<RawAnswer>> {
  const files = buffers(request.files);
  if (request.kind === 'post') {
    const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
    return () => send(stack.url, 'POST', `/submissions/${id}`, { headers: { 'Content-Type': contentType }, body });
  }
  const declared = Object.fromEntries(Object.entries(files).map(([path, data]) => [path, data.length]));
  const granted = await askUpload(stack.url, `submissions/${id}`, { files: declared });
  expect(granted.status).toBe(200);
  const grant = granted.json<{ upload_id: string; files: Record<string, UploadGrant> }>();
  for (const [path, data] of Object.entries(files)) {
    expect((await putToPresignedUrl(grant.files[path] as UploadGrant, data)).status).toBe(200);
  }
  return () => askUpload(stack.url, `submissions/${id}/complete`, { upload_id: grant.upload_id, files: declared });
}

async function storedManifest(id: string): Promise<Manifest | undefined> {
  if (!(await stack.exists(manifestKey(id)))) return undefined;
  return JSON.parse((await stack.storedBytes(manifestKey(id))).toString('utf8')) as Manifest;
}

/** The key a manifest entry's bytes are stored at. */
const keyOf = (id: string, entry: { path: string; key?: string }): string =>
  entry.key ?? submissionFileKey(id, entry.path);

/** The bytes every file of `manifest` must still have, at the key the manifest names. */
async function expectListedBytes(id: string, manifest: Manifest, contents: Files): Promise<void> {
  const stored: Files = {};
  for (const entry of manifest.files) stored[entry.path] = (await stack.storedBytes(keyOf(id, entry))).toString();
  expect(stored).toEqual(contents);
}

describe.each(RACES)('$name', (race) => {
  it('both requests answer 200; the manifest and the archive hold the files of both, each with its own bytes', async () => {
    const id = freshId('race');
    if (race.stored) {
      const { body, contentType } = multipart(Object.entries(buffers(race.stored)).map(([p, d]) => file(p, d)));
      const answer = await send(stack.url, 'POST', `/submissions/${id}`, {
        headers: { 'Content-Type': contentType },
        body,
      });
      expect(answer.status).toBe(200);
    }
    const runFirst = await prepare(id, race.first);
    const runSecond = await prepare(id, race.second);
    // No archiver run of the stored submission is left to overlap the race.
    await stack.notificationsIdle();
    const storedBefore = await storedManifest(id);

    const slipped =
      race.before === 'manifest' ? manifestKey(id) : submissionFileKey(id, (race.before as { file: string }).file);
    const slip = slipInBeforeWrite(
      slipped,
      async () => {
        const answer = await runSecond();
        return { answer, manifest: await storedManifest(id) };
      },
      // s3rver ignores conditional writes; the folder store and LocalStack enforce them.
      { enforceConditions: testBackend() === 's3rver' },
    );
    let first: RawAnswer;
    try {
      first = await runFirst();
    } finally {
      slip.remove();
    }
    const second = slip.outcome();
    expect({ first: first.status, second: second.answer.status }).toEqual({ first: 200, second: 200 });

    // The first request committed last: its files over the second's, over the stored ones.
    const afterSecond = { ...race.stored, ...race.second.files };
    const expected = { ...afterSecond, ...race.first.files };
    const manifest = (await storedManifest(id)) as Manifest;
    expect(manifest.files.map((entry) => [entry.path, entry.size])).toEqual(
      Object.entries(expected)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([path, text]) => [path, Buffer.byteLength(text)]),
    );
    await expectListedBytes(id, manifest, expected);
    for (const path of race.revisionKeys ?? []) {
      expect(manifest.files.find((entry) => entry.path === path)?.key).toMatch(new RegExp(`^revisions/${id}/`));
    }
    // Nothing was written over a file that a manifest listed: the stored submission, and the one the second request
    // committed, can each still be read (and archived) as they were.
    if (storedBefore) await expectListedBytes(id, storedBefore, race.stored ?? {});
    expect(second.manifest).toBeDefined();
    await expectListedBytes(id, second.manifest as Manifest, afterSecond);

    await stack.notificationsIdle();
    const archive = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
    expect(archive.status).toBe(200);
    const entries = (await readZip(archive.body)).filter((entry) => !entry.name.endsWith('/'));
    expect(Object.fromEntries(entries.map((entry) => [entry.name, entry.data.toString()]))).toEqual(
      Object.fromEntries(Object.entries(expected).map(([path, text]) => [`${id}/${path}`, text])),
    );
  });
});
