/**
 * The archive a submission POST writes alongside its files (lib/fileserver/submissions.ts): built for the manifest
 * the POST plans to write, with the ETags the store is expected to answer (the MD5, lib/storage/object-store.ts). A
 * store that answers others (S3 with SSE-KMS) only costs the POST a second archive write, for the manifest it does
 * write, so the archive is still current when the POST answers.
 */
import { handler as archiver } from '../../functions/archiver';
import type { ObjectStore } from '../../lib/storage/object-store';
import { store, useStore } from '../../lib/storage/store';
import { readZip } from '../support/zip';
import { storedBytes, submit } from './support/archives';
import { manifestEvent } from './support/s3-events';
import { useTestStore } from './support/store';
import { STORE_REQUESTS, spyOnStore } from './support/store-spy';

const bucket = useTestStore();

const FILES = { 'main.c': 'int main(void) { return 0; }\n', 'src/util.h': '#pragma once\n' };

/** Runs `body` on a store whose writes of submitted files answer another ETag than the MD5 of their bytes. */
async function withOtherEtags<T>(body: () => Promise<T>): Promise<T> {
  const inner = store();
  const other: ObjectStore = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property !== 'putObject') return value;
      return async (key: string, ...rest: unknown[]) => {
        const answer = await (value as (...a: unknown[]) => Promise<{ etag: string }>).apply(target, [key, ...rest]);
        return key.startsWith('submissions/') ? { etag: `"kms-${answer.etag.replaceAll('"', '')}"` } : answer;
      };
    },
  });
  useStore(other);
  try {
    return await body();
  } finally {
    useStore(inner);
  }
}

it('a store that answers other ETags than planned: the POST writes the archive again, and it is current', async () => {
  const id = 'other_etags';
  const spy = spyOnStore();
  try {
    await withOtherEtags(() => submit(id, FILES));
    const archiveWrites = spy.calls.filter((call) => call.key === `submission_archives/${id}.zip`);
    expect(archiveWrites.map((call) => call.name)).toEqual(['putObject', 'putObject']);
    spy.clear();
    // The archiver finds it current: it reads the manifest and the archive's metadata, and writes nothing.
    await archiver(manifestEvent(id));
    expect(spy.names().filter((name) => STORE_REQUESTS.includes(name))).toEqual(['getObject', 'headObject']);
  } finally {
    spy.remove();
  }
  const entries = await readZip(await storedBytes(bucket, `submission_archives/${id}.zip`));
  expect(Object.fromEntries(entries.map((entry) => [entry.name, entry.data.toString('utf8')]))).toEqual({
    [`${id}/main.c`]: FILES['main.c'],
    [`${id}/src/util.h`]: FILES['src/util.h'],
  });
});

it('a store that answers the planned ETags: one archive write, alongside the files', async () => {
  const id = 'planned_etags';
  const spy = spyOnStore();
  try {
    await submit(id, FILES);
    const writes = spy.calls.filter((call) => call.name === 'putObject').map((call) => call.key.split('/')[0]);
    // The archive goes out first, with the files, before the manifest that makes it current.
    expect(writes).toEqual(['submission_archives', 'submissions', 'submissions', 'manifests']);
  } finally {
    spy.remove();
  }
});
