import { BadRequestError, NotFoundError } from '../../lib/errors';
import { parseUploadTarget } from '../../lib/fileserver/uploads';
import { thrownBy } from '../support/thrown';

const SHA1 = 'f572d396fae9206628714fb2ce00f72e94f2258f';

describe('parseUploadTarget (the path of POST /uploads/{target+})', () => {
  it.each([
    [`exercises/${SHA1}`, { kind: 'exercise', sha1: SHA1 }],
    [`tasks/${SHA1.toUpperCase()}`, { kind: 'exercise', sha1: SHA1 }],
    ['results/student_42.zip', { kind: 'result', name: 'student_42.zip' }],
    ['attachments/att-1', { kind: 'attachment', id: 'att-1' }],
    ['submissions/s_1', { kind: 'submission', id: 's_1' }],
    ['submissions/s_1/complete', { kind: 'submission-complete', id: 's_1' }],
  ])('%s is understood', (target, expected) => {
    expect(parseUploadTarget(target)).toEqual(expected);
  });

  it.each([
    'exercises',
    'submissions',
    `exercises/${SHA1}/complete`,
    'results/x.zip/complete',
    'submissions/s_1/finish',
    'submissions/s_1/complete/again',
    'archives/s_1.zip',
    '',
  ])('%j is no upload target (404 that lists the targets)', (target) => {
    const error = thrownBy(() => parseUploadTarget(target));
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).code).toBe('no-such-upload-target');
    expect((error as Error).message).toContain('submissions/<id>/complete');
  });

  it.each([
    ['exercises/abc', 'invalid-hash'],
    ['results/..', 'invalid-id'],
    ['attachments/a b', 'invalid-id'],
    ['submissions/../complete', 'invalid-id'],
  ])('%s names what is wrong (400 %s)', (target, code) => {
    const error = thrownBy(() => parseUploadTarget(target));
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).code).toBe(code);
  });
});
