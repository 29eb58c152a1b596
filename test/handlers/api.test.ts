/**
 * What the ReCodEx API (PHP, Guzzle) notices (docs/protocol.md §1.1, §2): the exact JSON of its uploads, which it turns
 * into worker URLs by string concatenation, and the archive the worker then downloads.
 */
import { createHash } from 'node:crypto';
import { handler as archives } from '../../functions/archives';
import { download as exerciseDownload, upload as exerciseUpload } from '../../functions/exercises';
import { handler as status } from '../../functions/status';
import { handler as submissions } from '../../functions/submissions';
import packageJson from '../../package.json';
import { file, multipart, type Part } from '../support/multipart';
import { readZip } from '../support/zip';
import { bodyBytes, expectError, FIXTURE_ID, invoke, jsonBody, loadEvent } from './support/events';
import { BUCKET, useTestStore } from './support/store';

const bucket = useTestStore();

/** The fixture's Guzzle request with other parts, to the submission `id`. */
const postSubmission = (id: string, parts: readonly Part[]) => {
  const { body, contentType } = multipart(parts);
  return invoke(
    submissions,
    loadEvent('api-submission-post', { param: id, body, headers: { 'Content-Type': contentType } }),
  );
};

const getArchive = (id: string, method = 'GET') =>
  invoke(archives, loadEvent('worker-archive-get', { param: `${id}.zip`, method }));

/** The archive's entries as `name → text`, directory entries left out. */
async function archiveFiles(id: string): Promise<Record<string, string>> {
  const answer = await getArchive(id);
  expect(answer.statusCode).toBe(200);
  const entries = await readZip(bodyBytes(answer));
  return Object.fromEntries(
    entries.filter((entry) => !entry.name.endsWith('/')).map((entry) => [entry.name, entry.data.toString('utf8')]),
  );
}

describe('POST /submissions/{id+}', () => {
  it('answers exactly the two root-relative paths, without the stage prefix', async () => {
    const event = loadEvent('api-submission-post');
    expect(event.requestContext.stage).toBe('prod');
    const answer = await invoke(submissions, event);
    expect(answer.statusCode).toBe(200);
    expect(answer.headers?.['Content-Type']).toBe('application/json');
    expect(answer.body).toBe(
      `{"archive_path":"/submission_archives/${FIXTURE_ID}.zip","result_path":"/results/${FIXTURE_ID}.zip"}`,
    );
  });

  it('makes the archive the worker GETs: every file under <id>/, nested paths kept', async () => {
    await invoke(submissions, loadEvent('api-submission-post'));
    const answer = await invoke(archives, loadEvent('worker-archive-get'));
    expect(answer.statusCode).toBe(200);
    expect(answer.isBase64Encoded).toBe(true);
    expect(answer.headers?.['Content-Type']).toBe('application/zip');
    const zip = bodyBytes(answer);
    expect(answer.headers?.['Content-Length']).toBe(String(zip.length));

    const entries = await readZip(zip);
    const files = entries.filter((entry) => !entry.name.endsWith('/'));
    expect(files.map((entry) => entry.name).sort()).toEqual([
      `${FIXTURE_ID}/job-config.yml`,
      `${FIXTURE_ID}/src/main.c`,
    ]);
    // Directory entries, if any, stay inside <id>/ (docs/protocol.md §3).
    for (const entry of entries) expect(entry.name.startsWith(`${FIXTURE_ID}/`)).toBe(true);
    const byName = new Map(files.map((entry) => [entry.name, entry.data.toString('utf8')]));
    expect(byName.get(`${FIXTURE_ID}/src/main.c`)).toBe(
      '#include <stdio.h>\n\nint main(void)\n{\n\tprintf("Hello, world!\\n");\n\treturn 0;\n}\n',
    );
    expect(byName.get(`${FIXTURE_ID}/job-config.yml`)).toMatch(new RegExp(`^submission:\\n  job-id: ${FIXTURE_ID}\\n`));
  });

  it('answers HEAD of the archive with its size and no body', async () => {
    await invoke(submissions, loadEvent('api-submission-post'));
    const zip = bodyBytes(await invoke(archives, loadEvent('worker-archive-get')));
    const head = await invoke(archives, loadEvent('worker-archive-get', { method: 'HEAD' }));
    expect(head.statusCode).toBe(200);
    expect(head.headers?.['Content-Length']).toBe(String(zip.length));
    expect(head.body).toBe('');
  });

  it('works for ids with dots (a.b → /submission_archives/a.b.zip)', async () => {
    const answer = await postSubmission('a.b', [file('main.c', 'int main;')]);
    expect(jsonBody(answer)).toEqual({ archive_path: '/submission_archives/a.b.zip', result_path: '/results/a.b.zip' });
    expect(await archiveFiles('a.b')).toEqual({ 'a.b/main.c': 'int main;' });
  });

  it('ignores text fields and the parts’ filenames: field names are the paths', async () => {
    const answer = await postSubmission('reference_text-fields', [
      { name: 'note', data: 'not a file' },
      { name: 'deep/er/x.txt', data: 'x', filename: 'something-else.bin' },
    ]);
    expect(answer.statusCode).toBe(200);
    expect(await archiveFiles('reference_text-fields')).toEqual({ 'reference_text-fields/deep/er/x.txt': 'x' });
  });

  it('rebuilds the archive when the submission is posted again', async () => {
    const id = 'student_repost';
    await postSubmission(id, [file('main.c', 'v1'), file('job-config.yml', 'tasks: []\n')]);
    expect(await archiveFiles(id)).toEqual({ [`${id}/job-config.yml`]: 'tasks: []\n', [`${id}/main.c`]: 'v1' });
    await postSubmission(id, [file('main.c', 'v2')]);
    expect((await archiveFiles(id))[`${id}/main.c`]).toBe('v2');
  });

  it.each([
    ['../escape.c', 'invalid-path'],
    ['/etc/passwd', 'invalid-path'],
    ['a//b.c', 'invalid-path'],
    ['a\\b.c', 'invalid-path'],
    ['src/./main.c', 'invalid-path'],
  ])('refuses the field name %j with 400 %s and stores nothing of the request', async (path, code) => {
    const id = `student_bad-${createHash('sha1').update(path).digest('hex').slice(0, 8)}`;
    const answer = await postSubmission(id, [file('good.c', 'fine'), file(path, 'evil')]);
    expectError(answer, 400, code);
    expect(await bucket.keys(`submissions/${id}/`)).toEqual([]);
    expect(await bucket.keys(`manifests/${id}`)).toEqual([]);
    expectError(await getArchive(id), 404, 'no-such-submission');
  });

  it('keeps UTF-8 paths and spaces as Guzzle sends them (unencoded)', async () => {
    const id = 'student_utf8';
    expect((await postSubmission(id, [file('src/příklad 1.c', 'x')])).statusCode).toBe(200);
    expect(await archiveFiles(id)).toEqual({ [`${id}/src/příklad 1.c`]: 'x' });
  });

  it('accepts a path of 800 bytes and refuses one of 801 (docs/protocol.md §6)', async () => {
    // Segments below 255 bytes, the file-name limit of the embedded server's disk.
    const path800 = `${Array.from({ length: 7 }, () => 'd'.repeat(99)).join('/')}/${'f'.repeat(100)}`;
    expect(Buffer.byteLength(path800)).toBe(800);
    expect((await postSubmission('student_800', [file(path800, 'x')])).statusCode).toBe(200);
    expect(Object.keys(await archiveFiles('student_800'))).toEqual([`student_800/${path800}`]);
    const path801 = `${path800.slice(0, 799)}é`;
    expect(Buffer.byteLength(path801)).toBe(801);
    expectError(await postSubmission('student_801', [file(path801, 'x')]), 400, 'invalid-path');
  });

  it('refuses a path that is both a file and a folder, within one request or across two', async () => {
    expectError(await postSubmission('student_clash', [file('a', 'x'), file('a/b', 'y')]), 400, 'path-conflict');
    expect(await bucket.keys('submissions/student_clash/')).toEqual([]);
    expect((await postSubmission('student_clash', [file('a', 'x')])).statusCode).toBe(200);
    expectError(await postSubmission('student_clash', [file('a/b', 'y')]), 400, 'path-conflict');
    expect(await archiveFiles('student_clash')).toEqual({ 'student_clash/a': 'x' });
  });

  // Guzzle writes `name="a"b.c"` without escaping the quote and busboy skips such a part without an event:
  // the file must never be lost silently; it is stored whole or the request is refused.
  it('refuses a file whose name holds an unescaped double quote instead of dropping it', async () => {
    const id = 'student_quote';
    const answer = await postSubmission(id, [file('main.c', 'M'), file('a"b.c', 'Q')]);
    expectError(answer, 400, 'bad-multipart');
    expect(await bucket.keys(`submissions/${id}/`)).toEqual([]);
  });

  it('refuses two parts with one field name', async () => {
    const answer = await postSubmission('student_dup', [file('main.c', 'a'), file('main.c', 'b')]);
    expectError(answer, 400, 'duplicate-field');
    expect(await bucket.keys('submissions/student_dup/')).toEqual([]);
  });

  it('refuses a request without file parts', async () => {
    expectError(await postSubmission('student_empty', [{ name: 'note', data: 'x' }]), 400, 'no-files');
  });

  it.each(['..', 'a b', 'x'.repeat(129)])('refuses the id %j with 400 invalid-id', async (id) => {
    const before = await bucket.keys();
    expectError(await postSubmission(id, [file('main.c', 'x')]), 400, 'invalid-id');
    expect(await bucket.keys()).toEqual(before);
  });
});

describe('GET /submission_archives/{name+}', () => {
  it('answers 404 for an id never uploaded, and leaves no trace', async () => {
    const before = await bucket.keys();
    expectError(await getArchive('student_never-uploaded'), 404, 'no-such-submission');
    expectError(await getArchive('student_never-uploaded', 'HEAD'), 404, 'no-such-submission');
    expect(await bucket.keys()).toEqual(before);
  });

  it.each(['student_x', 'student_x.tar.gz', '.zip'])('answers 400 for the name %j', async (name) => {
    const answer = await invoke(archives, loadEvent('worker-archive-get', { param: name }));
    expect(answer.statusCode).toBe(400);
    expect(jsonBody(answer)).toMatchObject({ result: 'ERROR', error: { code: expect.stringMatching(/^invalid-/) } });
  });

  it('answers POST with 405 and Allow', async () => {
    const answer = await invoke(archives, loadEvent('worker-archive-get', { method: 'POST' }));
    expectError(answer, 405, 'method-not-allowed');
    expect(answer.headers?.Allow).toBe('GET, HEAD');
  });
});

describe('POST /exercises and /tasks', () => {
  const HELLO_SHA1 = 'f572d396fae9206628714fb2ce00f72e94f2258f';

  it('answers /exercises/<sha1> paths even when posted to /tasks', async () => {
    const event = loadEvent('api-exercise-post');
    expect(event.path).toBe('/tasks');
    const answer = await invoke(exerciseUpload, event);
    expect(answer.statusCode).toBe(200);
    expect(answer.headers?.['Content-Type']).toBe('application/json');
    expect(answer.body).toBe(`{"result":"OK","files":{"input.txt":"/exercises/${HELLO_SHA1}"}}`);
    expect(await bucket.keys('tasks/')).toContain(`tasks/f/${HELLO_SHA1}`);
  });

  it('answers the same when the content is posted again (dedup)', async () => {
    const first = await invoke(exerciseUpload, loadEvent('api-exercise-post'));
    const second = await invoke(exerciseUpload, loadEvent('api-exercise-post'));
    expect(second.statusCode).toBe(200);
    expect(second.body).toBe(first.body);
  });

  it('works posted to /exercises, several files, the empty one included', async () => {
    const { body, contentType } = multipart([file('empty.txt', ''), file('data.bin', Buffer.from([0, 1, 2, 255]))]);
    const event = loadEvent('api-exercise-post', {
      body,
      headers: { 'Content-Type': contentType },
      raw: { resource: '/exercises', path: '/exercises' },
    });
    const answer = await invoke(exerciseUpload, event);
    const dataSha1 = createHash('sha1')
      .update(Buffer.from([0, 1, 2, 255]))
      .digest('hex');
    expect(jsonBody(answer)).toEqual({
      result: 'OK',
      files: {
        'empty.txt': '/exercises/da39a3ee5e6b4b0d3255bfef95601890afd80709',
        'data.bin': `/exercises/${dataSha1}`,
      },
    });
    const fetched = await invoke(exerciseDownload, loadEvent('worker-exercise-get', { param: dataSha1 }));
    expect(bodyBytes(fetched)).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it('answers GET on the collection with 405 and Allow: POST', async () => {
    const answer = await invoke(exerciseUpload, loadEvent('api-exercise-post', { method: 'GET', body: null }));
    expectError(answer, 405, 'method-not-allowed');
    expect(answer.headers?.Allow).toBe('POST');
  });
});

describe('GET /', () => {
  it('reports service, version and reachable storage', async () => {
    const answer = await invoke(status, loadEvent('status-get'));
    expect(answer.statusCode).toBe(200);
    expect(jsonBody(answer)).toEqual({
      service: packageJson.name,
      version: packageJson.version,
      storage: { bucket: BUCKET, reachable: true },
    });
  });

  it('answers HEAD with the same status and no body', async () => {
    const answer = await invoke(status, loadEvent('status-get', { method: 'HEAD' }));
    expect(answer.statusCode).toBe(200);
    expect(answer.body).toBe('');
  });

  it('answers POST with 405 and Allow: GET, HEAD', async () => {
    const answer = await invoke(status, loadEvent('status-get', { method: 'POST', body: Buffer.from('x') }));
    expectError(answer, 405, 'method-not-allowed');
    expect(answer.headers?.Allow).toBe('GET, HEAD');
  });
});
