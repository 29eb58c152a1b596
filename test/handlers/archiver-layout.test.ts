import { handler as archiver } from '../../functions/archiver';
import { buildArchive } from '../../lib/fileserver/archive-zip';
import { readManifest, storeSubmission } from '../../lib/fileserver/submissions';
import { parseFileParts } from '../../lib/http/multipart';
import { file, multipart } from '../support/multipart';
import { readZip } from '../support/zip';
import { manifestEvent } from './support/s3-events';
import { useTestStore } from './support/store';
import { STORE_WRITES, spyOnStore } from './support/store-spy';

const bucket = useTestStore({ ARCHIVE_LAYOUT: 'flat' });

async function submit(id: string, files: Record<string, string>): Promise<void> {
  const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
  await storeSubmission(id, () => parseFileParts(contentType, body));
}

async function storedEntries(id: string) {
  const entries = await readZip(await bucket.storedBytes(`submission_archives/${id}.zip`));
  return entries.map((entry) => ({ name: entry.name, data: entry.data.toString('utf8') }));
}

const files = { 'job-config.yml': 'submission:\n  job-id: flat\n', 'main.c': 'int main;\n', 'sub/x.txt': 'x' };

it('builds the flat layout: job-config.yml and every file at the root', async () => {
  await submit('flat_1', files);
  await expect(archiver(manifestEvent('flat_1'))).resolves.toBeUndefined();
  expect(await storedEntries('flat_1')).toEqual([
    { name: 'job-config.yml', data: files['job-config.yml'] },
    { name: 'main.c', data: files['main.c'] },
    { name: 'sub/x.txt', data: 'x' },
  ]);
  const head = await bucket.head('submission_archives/flat_1.zip');
  expect(head?.Metadata['archive-layout']).toBe('flat');
});

it('rebuilds an archive of the same manifest that was built in the prefixed layout, then finds it current', async () => {
  await submit('flat_2', files);
  const manifest = await readManifest('flat_2');
  if (!manifest) throw new Error('no manifest');
  await buildArchive(manifest, 'prefixed');
  expect((await storedEntries('flat_2')).map((entry) => entry.name)).toEqual([
    'flat_2/job-config.yml',
    'flat_2/main.c',
    'flat_2/sub/x.txt',
  ]);

  const spy = spyOnStore();
  try {
    await expect(archiver(manifestEvent('flat_2'))).resolves.toBeUndefined();
    expect(spy.names()).toContain('uploadStream');
    expect((await storedEntries('flat_2')).map((entry) => entry.name)).toEqual([
      'job-config.yml',
      'main.c',
      'sub/x.txt',
    ]);
    spy.clear();
    await expect(archiver(manifestEvent('flat_2'))).resolves.toBeUndefined();
    expect(spy.names().filter((name) => STORE_WRITES.includes(name))).toEqual([]);
  } finally {
    spy.remove();
  }
});
