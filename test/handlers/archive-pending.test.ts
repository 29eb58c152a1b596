import { handler as archiver } from '../../functions/archiver';
import { handler as archives } from '../../functions/archives';
import { ARCHIVER_TIMEOUT_MS } from '../../lib/fileserver/archive-refresh';
import { readZip } from '../support/zip';
import { storedBytes, submit } from './support/archives';
import { bodyBytes, expectError, invoke, loadEvent } from './support/events';
import { manifestEvent } from './support/s3-events';
import { useTestStore } from './support/store';
import { spyOnStore } from './support/store-spy';

process.env.ARCHIVE_ON_DEMAND_MAX_BYTES = '1000';
// Many small files take many S3 reads: a submission of more files than this is left to the archiver too.
process.env.ARCHIVE_ON_DEMAND_MAX_FILES = '3';
// Builds of the archiver and of GETs are under test: POSTs leave every build to them (lib/config.ts).
const bucket = useTestStore({ ARCHIVE_IN_POST_MAX_BYTES: '0' });

const getArchive = (id: string) =>
  invoke(archives, loadEvent('worker-archive-get', { param: `${id}.zip`, headers: { Authorization: undefined } }));

it('answers 503 archive-pending with Retry-After for a submission above the bound, and starts no build', async () => {
  await submit('large_one', { 'data.bin': Buffer.alloc(1001, 7) });
  const before = await bucket.keys();
  const answer = await getArchive('large_one');
  expectError(answer, 503, 'archive-pending');
  expect(answer.headers?.['Retry-After']).toBe('5');
  expect(await bucket.keys()).toEqual(before);

  // The archiver, which the manifest's notification runs, builds it; then GET serves it.
  await archiver(manifestEvent('large_one'));
  const built = await getArchive('large_one');
  expect(built.statusCode).toBe(200);
  const entries = await readZip(bodyBytes(built));
  expect(entries.map((entry) => [entry.name, entry.data.length])).toEqual([['large_one/data.bin', 1001]]);
});

it('answers 503 archive-pending for a submission of more files than the file bound, however small', async () => {
  await submit('many_small', { 'a.c': 'a', 'b.c': 'b', 'c.c': 'c', 'd.c': 'd' });
  const answer = await getArchive('many_small');
  expectError(answer, 503, 'archive-pending');
  await archiver(manifestEvent('many_small'));
  expect((await getArchive('many_small')).statusCode).toBe(200);
  await submit('three_small', { 'a.c': 'a', 'b.c': 'b', 'c.c': 'c' });
  expect((await getArchive('three_small')).statusCode).toBe(200);
});

it('builds a submission up to the bound on demand, as before', async () => {
  await submit('small_one', { 'data.bin': Buffer.alloc(1000, 7) });
  const answer = await getArchive('small_one');
  expect(answer.statusCode).toBe(200);
  expect((await readZip(bodyBytes(answer))).map((entry) => entry.name)).toEqual(['small_one/data.bin']);
});

it('notifies the archiver again when a large archive is missing and no build can be running (manifest > 15 min old)', async () => {
  await submit('expired_one', { 'data.bin': Buffer.alloc(1500, 9) });
  await archiver(manifestEvent('expired_one'));
  // The archive expires (the lifecycle rule), long after the upload.
  await bucket.remove('submission_archives/expired_one.zip');
  const manifestBefore = await storedBytes(bucket, 'manifests/expired_one.json');
  await bucket.age('manifests/expired_one.json', ARCHIVER_TIMEOUT_MS + 60_000);
  const spy = spyOnStore();
  try {
    expectError(await getArchive('expired_one'), 503, 'archive-pending');
    // The same manifest, written again: S3 notifies the archiver of the new version.
    expect(spy.calls.filter((call) => call.name === 'putObject').map((call) => call.key)).toEqual([
      'manifests/expired_one.json',
    ]);
    expect(await storedBytes(bucket, 'manifests/expired_one.json')).toEqual(manifestBefore);
  } finally {
    spy.remove();
  }
  // A manifest just written (as now) starts nothing more: the build it notified is running.
  const quiet = spyOnStore();
  try {
    expectError(await getArchive('expired_one'), 503, 'archive-pending');
    expect(quiet.names()).not.toContain('putObject');
  } finally {
    quiet.remove();
  }
  await archiver(manifestEvent('expired_one'));
  expect((await getArchive('expired_one')).statusCode).toBe(200);
});
