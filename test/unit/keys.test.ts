import { createHash } from 'node:crypto';
import { BadRequestError } from '../../lib/errors';
import {
  archiveKey,
  attachmentKey,
  isSubmissionFileKey,
  manifestKey,
  newRevision,
  parseArchiveName,
  parseRevision,
  parseSha1,
  resultKey,
  revisionFileKey,
  revisionPrefix,
  submissionFileKey,
  submissionIdOfManifestKey,
  taskKey,
  validateId,
  validateSubmissionPath,
} from '../../lib/fileserver/keys';
import { thrownBy } from '../support/thrown';

/** Runs `fn` and asserts it throws a 400 BadRequestError with `code`. */
function expectBadRequest(fn: () => unknown, code: string): void {
  const thrown = thrownBy(fn);
  expect(thrown).toBeInstanceOf(BadRequestError);
  expect(thrown).toMatchObject({ statusCode: 400, code });
}

const UUID = '0b5e8c1e-3f3a-4c8e-9d1a-6f2b7c9e0a11';
const HELLO_SHA1 = 'f572d396fae9206628714fb2ce00f72e94f2258f';

describe('validateId', () => {
  it.each([
    [`student_${UUID}`],
    [`reference_${UUID}`],
    ['reference_x'],
    ['a.b'],
    ['a'],
    ['...'],
    ['A-Z_a-z.0-9'],
    ['x'.repeat(128)],
  ])('accepts %j and returns it unchanged', (id) => {
    expect(validateId(id)).toBe(id);
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot dot', '..'],
    ['slash', 'a/b'],
    ['space', 'a b'],
    ['percent-encoded slash', 'a%2Fb'],
    ['129 characters', 'x'.repeat(129)],
    ['300 characters', 'x'.repeat(300)],
    ['non-ASCII letter', 'žluťoučký'],
    ['non-ASCII digit', '١٢٣'],
    ['NUL', 'a\0b'],
    ['trailing newline', 'abc\n'],
    ['backslash', 'a\\b'],
  ])('rejects %s with 400 invalid-id', (_what, id) => {
    expectBadRequest(() => validateId(id), 'invalid-id');
  });

  it('names what was invalid in the message', () => {
    expect(() => validateId('a b', 'result name')).toThrow(/result name/);
  });
});

describe('validateSubmissionPath', () => {
  it.each([
    ['main.c'],
    ['sub/dir/x.txt'],
    ['job-config.yml'],
    ['složka/ž.c'],
    ['日本語/ファイル.txt'],
    ['.hidden'],
    ['a..b'],
    ['...'],
    ['a b/c d.txt'],
    ['x'.repeat(800)],
    ['ž'.repeat(400)],
    // Relative on the worker (Linux): only a leading '/' makes a path absolute there; the old fileserver stored these.
    ['a:b.txt'],
    ['C:/x'],
    ['c:'],
    ['http://x/y.c'.replace('//', '/')],
    ['😀/emoji-\u{1F600}.txt'],
  ])('accepts %j and returns it unchanged', (path) => {
    expect(validateSubmissionPath(path)).toBe(path);
  });

  it.each([
    ['empty', ''],
    ['parent', '../x'],
    ['deep parent', '../../etc/passwd'],
    ['parent in the middle', 'a/../../b'],
    ['parent at the end', 'a/..'],
    ['absolute', '/abs'],
    ['doubled slash', 'a//b'],
    ['dot segment', './a'],
    ['dot segment in the middle', 'a/./b'],
    ['dot', '.'],
    ['dot dot', '..'],
    ['backslash', 'a\\b'],
    ['backslash parent', '..\\x'],
    ['Windows drive with a backslash', 'C:\\x'],
    ['NUL byte', 'a\0b'],
    ['newline', 'a\nb'],
    ['carriage return', 'a\rb'],
    ['tab', 'a\tb'],
    ['DEL', 'a\x7fb'],
    ['escape', '\x1b[31m.c'],
    ['801 ASCII bytes', 'x'.repeat(801)],
    ['401 two-byte characters (802 bytes, 401 chars)', 'ž'.repeat(401)],
    ['267 three-byte characters (801 bytes, 267 chars)', '€'.repeat(267)],
    ['trailing slash', 'a/'],
    ['only a slash', '/'],
    ['a lone high surrogate (from a JSON escape)', '\ud800.c'],
    ['a lone low surrogate', 'a\udc00'],
    ['surrogates in the wrong order', '\udc00\ud800'],
  ])('rejects %s with 400 invalid-path', (_what, path) => {
    expectBadRequest(() => validateSubmissionPath(path), 'invalid-path');
  });

  it('counts bytes, not characters: a multibyte name under 800 chars but over 800 bytes is rejected', () => {
    const path = '€'.repeat(267);
    expect(path.length).toBeLessThan(800);
    expect(Buffer.byteLength(path, 'utf8')).toBe(801);
    expectBadRequest(() => validateSubmissionPath(path), 'invalid-path');
  });
});

describe('parseSha1', () => {
  it('returns a lowercase hash unchanged', () => {
    expect(parseSha1(HELLO_SHA1)).toBe(HELLO_SHA1);
  });

  it('lowercases an uppercase hash (same object)', () => {
    expect(parseSha1(HELLO_SHA1.toUpperCase())).toBe(HELLO_SHA1);
  });

  it.each([
    ['39 characters', HELLO_SHA1.slice(0, 39)],
    ['41 characters', `${HELLO_SHA1}0`],
    ['non-hex', `${HELLO_SHA1.slice(0, 39)}g`],
    ['a slash inside', `${HELLO_SHA1.slice(0, 20)}/${HELLO_SHA1.slice(21)}`],
    ['empty', ''],
    ['with a newline', `${HELLO_SHA1}\n`],
    ['a parent path', `../${HELLO_SHA1.slice(3)}`],
  ])('rejects %s with 400 invalid-hash', (_what, name) => {
    expectBadRequest(() => parseSha1(name), 'invalid-hash');
  });
});

describe('parseArchiveName', () => {
  it.each([
    ['a.b.zip', 'a.b'],
    [`student_${UUID}.zip`, `student_${UUID}`],
    ['x.zip.zip', 'x.zip'],
    ['....zip', '...'],
  ])('%j → id %j', (name, id) => {
    expect(parseArchiveName(name)).toBe(id);
  });

  it.each([
    ['no .zip suffix', 'x', 'invalid-archive-name'],
    ['only the suffix', '.zip', 'invalid-archive-name'],
    ['upper-case suffix', 'x.ZIP', 'invalid-archive-name'],
    ['a different suffix', 'x.tar', 'invalid-archive-name'],
  ])('rejects %s (%j) with 400 %s', (_what, name, code) => {
    expectBadRequest(() => parseArchiveName(name), code);
  });

  it.each([
    ['id "."', '..zip'],
    ['id ".."', '...zip'],
    ['an id with a slash', 'a/b.zip'],
    ['an id of 129 characters', `${'x'.repeat(129)}.zip`],
  ])('rejects an archive name with %s (%j) as an invalid id', (_what, name) => {
    expectBadRequest(() => parseArchiveName(name), 'invalid-id');
  });
});

describe('key builders', () => {
  it('taskKey puts the hash of "hello\\n" under tasks/<first char>/', () => {
    const sha1 = createHash('sha1').update('hello\n').digest('hex');
    expect(sha1).toBe(HELLO_SHA1);
    expect(taskKey(sha1)).toBe(`tasks/f/${HELLO_SHA1}`);
  });

  it('taskKey of an uppercase hash is the same key as of the lowercase hash', () => {
    expect(taskKey(HELLO_SHA1.toUpperCase())).toBe(`tasks/f/${HELLO_SHA1}`);
  });

  it('taskKey of the empty file hash', () => {
    expect(taskKey('da39a3ee5e6b4b0d3255bfef95601890afd80709')).toBe(
      'tasks/d/da39a3ee5e6b4b0d3255bfef95601890afd80709',
    );
  });

  it.each([
    ['submissionFileKey', 'submissions/s1/main.c', () => submissionFileKey('s1', 'main.c')],
    ['submissionFileKey, nested', 'submissions/a.b/sub/dir/x.txt', () => submissionFileKey('a.b', 'sub/dir/x.txt')],
    ['submissionFileKey, UTF-8', 'submissions/s1/složka/ž.c', () => submissionFileKey('s1', 'složka/ž.c')],
    ['manifestKey', 'manifests/s1.json', () => manifestKey('s1')],
    ['manifestKey, dotted id', 'manifests/a.b.json', () => manifestKey('a.b')],
    ['archiveKey', 'submission_archives/s1.zip', () => archiveKey('s1')],
    ['resultKey', 'results/s1.zip', () => resultKey('s1.zip')],
    ['attachmentKey', 'attachments/att-1', () => attachmentKey('att-1')],
  ])('%s builds %j', (_what, key, build) => {
    expect(build()).toBe(key);
  });

  it.each([
    ['submissionFileKey with a bad id', 'invalid-id', () => submissionFileKey('..', 'main.c')],
    ['submissionFileKey with a bad path', 'invalid-path', () => submissionFileKey('s1', '../x')],
    ['submissionFileKey with an absolute path', 'invalid-path', () => submissionFileKey('s1', '/etc/passwd')],
    ['manifestKey', 'invalid-id', () => manifestKey('a/b')],
    ['archiveKey', 'invalid-id', () => archiveKey('')],
    ['resultKey', 'invalid-id', () => resultKey('../x')],
    ['attachmentKey', 'invalid-id', () => attachmentKey('a b')],
    ['taskKey', 'invalid-hash', () => taskKey('not-a-hash')],
  ])('%s throws 400 %s', (_what, code, build) => {
    expectBadRequest(build, code);
  });
});

describe('submissionIdOfManifestKey', () => {
  it.each([
    ['manifests/x.json', 'x'],
    ['manifests/a.b.json', 'a.b'],
    [`manifests/student_${UUID}.json`, `student_${UUID}`],
    ['manifests/x.json.json', 'x.json'],
  ])('%j → %j', (key, id) => {
    expect(submissionIdOfManifestKey(key)).toBe(id);
  });

  it('inverts manifestKey', () => {
    expect(submissionIdOfManifestKey(manifestKey('reference_42'))).toBe('reference_42');
  });

  it.each([
    ['another prefix', 'submissions/x.json'],
    ['an archive', 'submission_archives/x.zip'],
    ['another suffix', 'manifests/x.txt'],
    ['a temporary suffix', 'manifests/x.json.tmp'],
    ['a nested key', 'manifests/a/b.json'],
    ['id "."', 'manifests/..json'],
    ['id ".."', 'manifests/...json'],
    ['empty id', 'manifests/.json'],
    ['the prefix alone', 'manifests/'],
    ['an id with a space', 'manifests/a b.json'],
    ['an id of 129 characters', `manifests/${'x'.repeat(129)}.json`],
    ['no slash after the prefix', 'manifestsx.json'],
  ])('ignores %s', (_what, key) => {
    expect(submissionIdOfManifestKey(key)).toBeUndefined();
  });
});

/** The message of the 400 that `fn` throws: what the client reads in the JSON body's `message`. */
function messageOf(fn: () => unknown): string {
  const thrown = thrownBy(fn);
  expect(thrown).toBeInstanceOf(BadRequestError);
  return (thrown as Error).message;
}

describe('every refusal names what was refused and why (the JSON body a client reads)', () => {
  it.each([
    ['empty', '', /^The file path "" is empty: every file part needs its relative path as its field name\.$/],
    ['a lone surrogate', '\ud800.c', /is not valid UTF-8: it holds a lone UTF-16 surrogate/],
    ['too long', 'x'.repeat(801), /is longer than 800 bytes\.$/],
    ['a control character', 'a\tb', /^The file path "a\\tb" contains a control character\.$/],
    ['a backslash', 'a\\b', /contains a backslash; separate folders with '\/'/],
    ['absolute', '/abs', /^The file path "\/abs" is absolute; give it relative to the submission's root\.$/],
    ['a doubled slash', 'a//b', /has an empty segment \(a leading, trailing or doubled '\/'\)/],
    ['a trailing slash', 'a/', /has an empty segment/],
    ['a parent segment', 'a/../b', /contains a '\.\.' segment\.$/],
    ['a dot segment', 'a/./b', /contains a '\.' segment\.$/],
  ])('a path that is %s', (_what, path, message) => {
    expect(messageOf(() => validateSubmissionPath(path))).toMatch(message);
  });

  it.each([
    ['validateId', () => validateId('a b'), /^The id "a b" is not valid: use 1 to 128 characters of A-Z, a-z, 0-9/],
    ['archiveKey', () => archiveKey('a b'), /^The submission id "a b" is not valid/],
    ['manifestKey', () => manifestKey('a b'), /^The submission id "a b" is not valid/],
    ['submissionFileKey', () => submissionFileKey('a b', 'main.c'), /^The submission id "a b" is not valid/],
    ['revisionFileKey', () => revisionFileKey('a b', newRevision(), 'main.c'), /^The submission id "a b" is not valid/],
    ['resultKey', () => resultKey('a b'), /^The result name "a b" is not valid/],
    ['attachmentKey', () => attachmentKey('a b'), /^The attachment id "a b" is not valid/],
    ['parseArchiveName, the id', () => parseArchiveName('a b.zip'), /^The submission id "a b" is not valid/],
    ['parseArchiveName, the form', () => parseArchiveName('a.tar'), /form <submission id>\.zip; "a\.tar" does not/],
    ['parseSha1', () => parseSha1('abc'), /SHA-1 of their content, 40 hexadecimal characters; "abc" is not one/],
  ])('%s', (_what, fn, message) => {
    expect(messageOf(fn)).toMatch(message);
  });

  it('quotes a long value by its first 60 characters and an ellipsis, a value of 60 whole', () => {
    const long = `${'a'.repeat(60)}b${'c'.repeat(100)}`;
    const message = messageOf(() => validateId(long));
    expect(message).toContain(`"${'a'.repeat(60)}…"`);
    expect(message).not.toContain(`${'a'.repeat(60)}b`);
    const sixty = `${'a'.repeat(59)} `;
    expect(messageOf(() => validateId(sixty))).toContain(JSON.stringify(sixty));
  });
});

describe('revisions: where the files that replace stored ones go', () => {
  it('newRevision is a token parseRevision takes back, and never the same twice', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => newRevision()));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(parseRevision(token)).toBe(token);
  });

  it.each([
    ['7 characters', 'abcdef1'],
    ['41 characters', 'a'.repeat(41)],
    ['upper case', 'ABCDEF12'],
    ['a slash', 'abcd/ef12'],
    ['a number', 12345678],
    ['nothing', undefined],
  ])('parseRevision refuses %s with 400 invalid-upload-id, naming the field', (_what, value) => {
    expectBadRequest(() => parseRevision(value, 'the upload_id'), 'invalid-upload-id');
    expect(messageOf(() => parseRevision(value))).toMatch(/^upload_id must be the upload_id that the upload request/);
  });

  it('revisionFileKey puts a file under its submission and revision', () => {
    expect(revisionFileKey('s1', '0a1b2c3d4e5f6a7b', 'dir/main.c')).toBe('revisions/s1/0a1b2c3d4e5f6a7b/dir/main.c');
    expect(revisionPrefix('s1', '0a1b2c3d4e5f6a7b')).toBe('revisions/s1/0a1b2c3d4e5f6a7b/');
  });

  it('revisionPrefix refuses a token it did not make, so no key escapes the submission', () => {
    expect(() => revisionPrefix('s1', '../s2/x')).toThrow(/is not a revision token/);
    expect(() => revisionFileKey('s1', 'x', 'main.c')).toThrow(/is not a revision token/);
  });

  it.each([
    ['its plain key', 'submissions/s1/dir/main.c', true],
    ['one of its revision keys', 'revisions/s1/0a1b2c3d4e5f6a7b/dir/main.c', true],
    ["another submission's plain key", 'submissions/s2/dir/main.c', false],
    ["another submission's revision key", 'revisions/s2/0a1b2c3d4e5f6a7b/dir/main.c', false],
    ['a submission whose id it begins', 'revisions/s10/0a1b2c3d4e5f6a7b/dir/main.c', false],
    ["another path's plain key", 'submissions/s1/dir/other.c', false],
    ["another path's revision key", 'revisions/s1/0a1b2c3d4e5f6a7b/dir/other.c', false],
    ['the revision key of another path as long as it', 'revisions/s1/0a1b2c3d4e5f6a7b/dir/mbin.c', false],
    ['a revision key of a path that ends like it', 'revisions/s1/0a1b2c3d4e5f6a7b/x/dir/main.c', false],
    ['a revision segment that is no token', 'revisions/s1/NOT-A-TOKEN/dir/main.c', false],
    ['a key with no revision segment', 'revisions/s1/dir/main.c', false],
    ['an exercise file', `tasks/f/${HELLO_SHA1}`, false],
  ])('isSubmissionFileKey: may a manifest of s1 keep dir/main.c at %s (%s)? %s', (_what, key, expected) => {
    expect(isSubmissionFileKey(key, 's1', 'dir/main.c')).toBe(expected);
  });
});
