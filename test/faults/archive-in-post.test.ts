/**
 * The archive a POST builds from its own bytes (lib/fileserver/submissions.ts, `ARCHIVE_IN_POST_MAX_BYTES`) under S3 faults,
 * injected on the wire by the fault proxy: it is only a saving, so a failed archive write costs the upload nothing
 * (the archive is built later, by a GET or the archiver), and an archive written by a POST that then fails is never
 * served (it names a manifest that was never stored, so it is stale). It is written alongside the files, so a POST
 * whose file write fails may have written it too. A GET builds archives of up to 1,000 bytes here
 * (`ARCHIVE_ON_DEMAND_MAX_BYTES`), so that one test's submission is one a GET leaves to the archiver.
 */
import { handler as archiver } from '../../functions/archiver';
import { manifestEvent } from '../handlers/support/s3-events';
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import { readZip } from '../support/zip';
import { type FaultStack, startFaultStack } from './support/fault-stack';

let stack: FaultStack;
beforeAll(async () => {
  stack = await startFaultStack({ ARCHIVE_ON_DEMAND_MAX_BYTES: String(ON_DEMAND_MAX_BYTES) });
});
afterEach(() => {
  stack.proxy.clear();
});
afterAll(async () => {
  await stack?.close();
});

const ON_DEMAND_MAX_BYTES = 1000;
const FIRST = { 'main.c': 'int main(void) { return 0; }\n', 'job-config.yml': 'submission:\n  job-id: x\n' };
const SECOND = { 'main.c': 'int main(void) { return 1; }\n', 'job-config.yml': 'submission:\n  job-id: y\n' };

function post(id: string, files: Record<string, string>) {
  const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
  return send(stack.url, 'POST', `/submissions/${id}`, { body, headers: { 'Content-Type': contentType } });
}

async function expectArchive(id: string, files: Record<string, string>): Promise<void> {
  const answer = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
  expect(answer.status).toBe(200);
  const entries = await readZip(answer.body);
  expect(Object.fromEntries(entries.map((entry) => [entry.name, entry.data.toString('utf8')]))).toEqual(
    Object.fromEntries(Object.entries(files).map(([path, data]) => [`${id}/${path}`, data])),
  );
}

it('a POST whose archive write fails on every attempt still answers 200; the archiver builds the archive', async () => {
  const id = 'archive_write_fails';
  const broken = stack.proxy.inject({
    kind: '500',
    operation: 'PutObject',
    key: `submission_archives/${id}.zip`,
    times: Number.POSITIVE_INFINITY,
  });
  expect((await post(id, FIRST)).status).toBe(200);
  expect(broken).toHaveLength(3); // every attempt of the SDK (lib/storage/s3/s3-client.ts)
  expect(await stack.exists(`manifests/${id}.json`)).toBe(true);
  expect(await stack.exists(`submission_archives/${id}.zip`)).toBe(false);
  stack.proxy.clear();
  await archiver(manifestEvent(id));
  expect(await stack.exists(`submission_archives/${id}.zip`)).toBe(true);
  await expectArchive(id, FIRST);
});

it('a re-POST whose manifest write fails after its archive was written: 503, and GETs still get the first upload', async () => {
  const id = 'manifest_write_fails';
  expect((await post(id, FIRST)).status).toBe(200);
  await expectArchive(id, FIRST);
  const broken = stack.proxy.inject({
    kind: '500',
    operation: 'PutObject',
    key: `manifests/${id}.json`,
    times: Number.POSITIVE_INFINITY,
  });
  const failed = await post(id, SECOND);
  expect({ status: failed.status, code: failed.json<{ error: { code: string } }>().error.code }).toEqual({
    status: 503,
    code: 'storage-unavailable',
  });
  expect(broken).toHaveLength(3);
  stack.proxy.clear();
  // The archive the failed POST wrote names a manifest that was never stored: stale, so the GET rebuilds it.
  await expectArchive(id, FIRST);
  expect((await post(id, SECOND)).status).toBe(200);
  await expectArchive(id, SECOND);
});

it('a re-POST whose file write fails after its archive was written: 503, and GETs still get the first upload', async () => {
  const id = 'file_write_fails';
  expect((await post(id, FIRST)).status).toBe(200);
  await expectArchive(id, FIRST);
  // Every file of the re-POST replaces a listed one, so it goes to a revision key.
  const broken = stack.proxy.inject({
    kind: '500',
    operation: 'PutObject',
    key: new RegExp(`^revisions/${id}/.*/main\\.c$`),
    times: Number.POSITIVE_INFINITY,
  });
  const archiveWrites = stack.proxy.stats.log.filter((r) => r.key === `submission_archives/${id}.zip`).length;
  const failed = await post(id, SECOND);
  expect(failed.status).toBe(503);
  expect(broken).toHaveLength(3);
  // The archive of the re-POST went out with its files and was stored: it names a manifest that was never written.
  expect(stack.proxy.stats.log.filter((r) => r.key === `submission_archives/${id}.zip`).length).toBe(archiveWrites + 1);
  stack.proxy.clear();
  await expectArchive(id, FIRST);
});

it('a re-POST does not build the archive when the one it replaces is too large for a GET to build again', async () => {
  const id = 'previous_too_large';
  const large = { 'a.txt': 'a'.repeat(ON_DEMAND_MAX_BYTES), 'b.txt': 'b' };
  expect((await post(id, large)).status).toBe(200);
  await expectArchive(id, large);
  stack.proxy.inject({ kind: '500', operation: 'PutObject', key: `manifests/${id}.json`, times: Infinity });
  expect((await post(id, { 'a.txt': 'A', 'b.txt': 'B' })).status).toBe(503);
  stack.proxy.clear();
  // Had the failed re-POST written its archive, this GET would find it stale and answer 503 archive-pending: the
  // previous submission is larger than a GET builds, and nothing would notify the archiver.
  await expectArchive(id, large);
});
