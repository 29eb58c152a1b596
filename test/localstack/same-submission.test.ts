/**
 * Requests that change one stored submission at once, really at once, against a faithful S3 (LocalStack), whose own
 * `If-Match` decides which manifest write lands first: every loser re-reads and merges (docs/design.md, "Archive on
 * upload"). The deterministic interleavings are in test/integration/same-submission-races.test.ts (run here too);
 * this one leaves the order to the machine. Four racers: each failed manifest write of one of them is caused by
 * another one's successful write, so none needs more than four attempts of the five it makes, and all answer 200
 * whatever the order.
 */
import { send } from '../support/http';
import { file, multipart } from '../support/multipart';
import type { TestStack } from '../support/stack';
import { askUpload, putToPresignedUrl, type UploadGrant } from '../support/uploads';
import { readZip } from '../support/zip';
import { startFaithfulStack } from './support/faithful-stack';

jest.setTimeout(120_000);

let stack: TestStack;
beforeAll(async () => {
  stack = await startFaithfulStack();
});
afterAll(async () => {
  await stack?.close();
});

const post = (id: string, files: Record<string, string>) => {
  const { body, contentType } = multipart(Object.entries(files).map(([path, data]) => file(path, data)));
  return send(stack.url, 'POST', `/submissions/${id}`, { headers: { 'Content-Type': contentType }, body });
};

/** Grants and uploads `files` now; the returned function completes the upload. */
async function uploaded(id: string, files: Record<string, string>) {
  const declared = Object.fromEntries(Object.entries(files).map(([path, data]) => [path, Buffer.byteLength(data)]));
  const granted = await askUpload(stack.url, `submissions/${id}`, { files: declared });
  expect(granted.status).toBe(200);
  const grant = granted.json<{ upload_id: string; files: Record<string, UploadGrant> }>();
  for (const [path, data] of Object.entries(files)) {
    expect((await putToPresignedUrl(grant.files[path] as UploadGrant, Buffer.from(data))).status).toBe(200);
  }
  return () => askUpload(stack.url, `submissions/${id}/complete`, { upload_id: grant.upload_id, files: declared });
}

it('two re-POSTs and two completions of a stored submission at once: all 200, every file in the archive', async () => {
  const id = `together_${Date.now()}`;
  expect((await post(id, { 'main.c': 'stored main' })).status).toBe(200);
  const posts: Record<string, string>[] = [{ 'a.txt': 'post a' }, { 'b.txt': 'post b' }];
  const uploads: Record<string, string>[] = [{ 'data/c.bin': 'upload c' }, { 'data/d.bin': 'upload d' }];
  const completions = [];
  for (const files of uploads) completions.push(await uploaded(id, files));
  const answers = await Promise.all([
    ...posts.map((files) => post(id, files)),
    ...completions.map((complete) => complete()),
  ]);
  expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);

  const expected: Record<string, string> = Object.assign({ 'main.c': 'stored main' }, ...posts, ...uploads);
  const archive = await send(stack.url, 'GET', `/submission_archives/${id}.zip`);
  expect(archive.status).toBe(200);
  const entries = (await readZip(archive.body)).filter((entry) => !entry.name.endsWith('/'));
  expect(Object.fromEntries(entries.map((entry) => [entry.name, entry.data.toString()]))).toEqual(
    Object.fromEntries(Object.entries(expected).map(([path, text]) => [`${id}/${path}`, text])),
  );
});
