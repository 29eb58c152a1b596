/**
 * HTTP Basic auth (docs/protocol.md §5), with credentials configured. The fixtures carry the ReCodEx defaults
 * (`re`/`codex`), sent preemptively as the API and the worker do.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { handler as archives } from '../../functions/archives';
import { download as exerciseDownload, upload as exerciseUpload } from '../../functions/exercises';
import { handler as results } from '../../functions/results';
import { handler as status } from '../../functions/status';
import { handler as submissions } from '../../functions/submissions';
import type { LambdaHttpHandler } from '../../lib/http/handler';
import { expectError, FIXTURE_ID, type Fixture, invoke, loadEvent } from './support/events';
import { useTestStore } from './support/store';

const bucket = useTestStore({ FILESERVER_USERNAME: 're', FILESERVER_PASSWORD: 'codex' });

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

/** In order: uploads first, so the downloads after them find something. */
const ROUTES: ReadonlyArray<[Fixture, LambdaHttpHandler]> = [
  ['api-submission-post', submissions],
  ['api-exercise-post', exerciseUpload],
  ['worker-result-put', results],
  ['worker-archive-get', archives],
  ['worker-exercise-get', exerciseDownload],
  ['worker-task-get-uppercase', exerciseDownload],
  ['status-get', status],
];

function expectUnauthorized(answer: Awaited<ReturnType<LambdaHttpHandler>>): void {
  expectError(answer, 401, 'unauthorized');
  expect(answer.headers?.['WWW-Authenticate']).toBe('Basic realm="ReCodEx fileserver"');
}

describe('with the right credentials', () => {
  it.each(ROUTES)('%s is answered 200', async (fixture, handler) => {
    expect(loadEvent(fixture).headers.Authorization).toBe(basic('re:codex'));
    expect((await invoke(handler, loadEvent(fixture))).statusCode).toBe(200);
  });

  it('accepts the header spelled in lowercase (HTTP/2 clients) and a lowercase scheme', async () => {
    const event = loadEvent('worker-archive-get', {
      headers: { Authorization: undefined, authorization: basic('re:codex').replace('Basic', 'basic') },
    });
    expect((await invoke(archives, event)).statusCode).toBe(200);
  });

  it('still answers 405 for a method the route does not serve', async () => {
    expectError(await invoke(results, loadEvent('results-delete')), 405, 'method-not-allowed');
  });
});

const WRONG: ReadonlyArray<[string, string | undefined]> = [
  ['no Authorization header', undefined],
  ['a wrong password', basic('re:wrong')],
  ['a wrong user', basic('er:codex')],
  ['the password of another case', basic('re:CODEX')],
  ['an empty password', basic('re:')],
  ['no colon', basic('recodex')],
  ['the password with a trailing newline', basic('re:codex\n')],
  ['a Bearer token', 'Bearer cmU6Y29kZXg='],
  ['no credentials after the scheme', 'Basic'],
  ['credentials that are not base64', 'Basic re:codex'],
  ['plain text', 're:codex'],
];

describe.each(WRONG)('with %s', (_label, authorization) => {
  const withAuth = (fixture: Fixture, overrides: Parameters<typeof loadEvent>[1] = {}): APIGatewayProxyEvent =>
    loadEvent(fixture, { ...overrides, headers: { ...overrides.headers, Authorization: authorization } });

  it.each(ROUTES)('%s is answered 401 with the Basic challenge', async (fixture, handler) => {
    expectUnauthorized(await invoke(handler, withAuth(fixture)));
  });

  it('is answered 401, not 405, for DELETE', async () => {
    expectUnauthorized(await invoke(results, withAuth('results-delete')));
  });

  it('a result PUT writes nothing', async () => {
    const name = `student_unauthorised-${WRONG.findIndex(([, value]) => value === authorization)}.zip`;
    expectUnauthorized(await invoke(results, withAuth('worker-result-put', { param: name })));
    expect(await bucket.exists(`results/${name}`)).toBe(false);
  });

  it('a submission POST writes nothing', async () => {
    const id = `student_unauthorised-${WRONG.findIndex(([, value]) => value === authorization)}`;
    expectUnauthorized(await invoke(submissions, withAuth('api-submission-post', { param: id })));
    expect(await bucket.keys(`submissions/${id}/`)).toEqual([]);
    expect(await bucket.exists(`manifests/${id}.json`)).toBe(false);
  });
});

describe('a failed-auth upload over an existing result', () => {
  it('leaves the stored bytes unchanged', async () => {
    const name = `${FIXTURE_ID}.zip`;
    expect((await invoke(results, loadEvent('worker-result-put'))).statusCode).toBe(200);
    const put = await invoke(
      results,
      loadEvent('worker-result-put', { body: Buffer.from('overwritten'), headers: { Authorization: basic('re:x') } }),
    );
    expectUnauthorized(put);
    const get = await invoke(
      results,
      loadEvent('worker-result-put', { method: 'GET', body: null, headers: { Expect: undefined } }),
    );
    expect(get.statusCode).toBe(200);
    expect(get.body).toBe(loadEvent('worker-result-put').body);
    expect(await bucket.exists(`results/${name}`)).toBe(true);
  });
});
