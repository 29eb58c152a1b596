import { BadRequestError } from '../../lib/errors';
import {
  EXACT_COLLISIONS,
  type ManifestFile,
  makeManifest,
  manifestDigest,
  mergeFiles,
  parseManifest,
  serializeManifest,
} from '../../lib/fileserver/manifest';
import { thrownBy } from '../support/thrown';

const f = (path: string, etag = `"${path}"`, size = 1): ManifestFile => ({ path, size, etag });
const paths = (files: readonly ManifestFile[]): string[] => files.map((file) => file.path);
const FOLDED = { folded: true };

function expectConflict(fn: () => unknown): void {
  const thrown = thrownBy(fn);
  expect(thrown).toBeInstanceOf(BadRequestError);
  expect(thrown).toMatchObject({ statusCode: 400, code: 'path-conflict' });
}

describe('makeManifest', () => {
  it('sorts files by path in code-unit order and keeps id and version', () => {
    const manifest = makeManifest('s1', [f('b.c'), f('job-config.yml'), f('a/z.txt'), f('B.c'), f('a.c'), f('ž.c')]);
    expect(manifest.version).toBe(1);
    expect(manifest.id).toBe('s1');
    expect(paths(manifest.files)).toEqual(['B.c', 'a.c', 'a/z.txt', 'b.c', 'job-config.yml', 'ž.c']);
  });

  it('does not reorder the caller’s array', () => {
    const input = [f('b'), f('a')];
    makeManifest('s1', input);
    expect(paths(input)).toEqual(['b', 'a']);
  });
});

describe('mergeFiles', () => {
  it('replaces a stored file with the same path and keeps the others', () => {
    const merged = mergeFiles(
      [f('a.c', '"old"', 3), f('b.c', '"b"', 4)],
      [f('a.c', '"new"', 5), f('c.c')],
      EXACT_COLLISIONS,
    );
    expect(merged).toEqual([f('a.c', '"new"', 5), f('b.c', '"b"', 4), f('c.c')]);
  });

  it('returns the union sorted by path', () => {
    expect(paths(mergeFiles([f('z'), f('m/n')], [f('a'), f('m/a')], EXACT_COLLISIONS))).toEqual([
      'a',
      'm/a',
      'm/n',
      'z',
    ]);
  });

  it('accepts a first upload (nothing stored)', () => {
    expect(paths(mergeFiles([], [f('main.c'), f('job-config.yml')], EXACT_COLLISIONS))).toEqual([
      'job-config.yml',
      'main.c',
    ]);
  });

  it('allows paths that only share a prefix, not a folder', () => {
    expect(paths(mergeFiles([f('a')], [f('ab/c'), f('a.c'), f('a-b')], EXACT_COLLISIONS))).toEqual([
      'a',
      'a-b',
      'a.c',
      'ab/c',
    ]);
  });

  it.each([
    ['file then folder, both added', [], [f('a'), f('a/b')]],
    ['folder then file, both added', [], [f('a/b'), f('a')]],
    ['deep folder, both added', [], [f('x/y/z'), f('x/y')]],
    ['stored file, added folder', [f('a')], [f('a/b')]],
    ['stored folder, added file', [f('a/b')], [f('a')]],
    ['stored deep folder, added file', [f('a/b/c.txt')], [f('a')]],
  ])('refuses a file/folder clash whatever the rules: %s', (_what, existing, added) => {
    expectConflict(() => mergeFiles(existing, added, EXACT_COLLISIONS));
    expectConflict(() => mergeFiles(existing, added, FOLDED));
  });
});

describe('manifestDigest', () => {
  const files = [f('main.c', '"e1"', 10), f('job-config.yml', '"e2"', 20), f('sub/x.txt', '"e3"', 30)];

  it('is the same for the same files in any input order', () => {
    const a = makeManifest('s1', files);
    const b = makeManifest('s1', [...files].reverse());
    expect(manifestDigest(a)).toBe(manifestDigest(b));
    expect(manifestDigest(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['an etag changes', [f('main.c', '"changed"', 10), files[1], files[2]], 's1'],
    ['a size changes', [f('main.c', '"e1"', 11), files[1], files[2]], 's1'],
    ['a path changes', [f('main2.c', '"e1"', 10), files[1], files[2]], 's1'],
    ['a file is added', [...files, f('extra')], 's1'],
    ['a file is removed', files.slice(1), 's1'],
    ['the id changes', files, 's2'],
  ])('changes when %s', (_what, changed, id) => {
    const base = manifestDigest(makeManifest('s1', files));
    expect(manifestDigest(makeManifest(id, changed as ManifestFile[]))).not.toBe(base);
  });
});

describe('parseManifest', () => {
  const manifest = makeManifest('s1', [f('main.c', '"e1"', 10), f('sub/ž.txt', '"e2"', 0)]);

  it('round-trips serializeManifest', () => {
    expect(parseManifest(serializeManifest(manifest), 's1')).toEqual(manifest);
  });

  it('sorts files that were stored out of order', () => {
    const text = JSON.stringify({ version: 1, id: 's1', files: [f('b'), f('a')] });
    expect(paths(parseManifest(text, 's1').files)).toEqual(['a', 'b']);
  });

  it('drops unknown extra properties of file entries', () => {
    const text = JSON.stringify({ version: 1, id: 's1', files: [{ ...f('a'), extra: true }] });
    expect(parseManifest(text, 's1').files).toEqual([f('a')]);
  });

  it.each([
    ['a wrong id', { version: 1, id: 's2', files: [] }],
    ['a wrong version', { version: 2, id: 's1', files: [] }],
    ['a version as a string', { version: '1', id: 's1', files: [] }],
    ['no files', { version: 1, id: 's1' }],
    ['files that is an object', { version: 1, id: 's1', files: {} }],
    ['an array at the top', [{ version: 1, id: 's1', files: [] }]],
    ['null', null],
    ['a file that is a string', { version: 1, id: 's1', files: ['main.c'] }],
    ['a file that is null', { version: 1, id: 's1', files: [null] }],
    ['a file without a path', { version: 1, id: 's1', files: [{ size: 1, etag: '"e"' }] }],
    ['a file with a numeric path', { version: 1, id: 's1', files: [{ path: 1, size: 1, etag: '"e"' }] }],
    ['a file with a string size', { version: 1, id: 's1', files: [{ path: 'a', size: '1', etag: '"e"' }] }],
    ['a file without an etag', { version: 1, id: 's1', files: [{ path: 'a', size: 1 }] }],
  ])('rejects %s', (_what, data) => {
    expect(() => parseManifest(JSON.stringify(data), 's1')).toThrow();
  });

  it('keeps the revision key of a file that replaced a stored one, and digests it (another key, another archive)', () => {
    const revised = makeManifest('s1', [{ ...f('main.c', '"e3"', 10), key: 'revisions/s1/0a1b2c3d4e5f6a7b/main.c' }]);
    const parsed = parseManifest(serializeManifest(revised), 's1');
    expect(parsed).toEqual(revised);
    const plain = makeManifest('s1', [f('main.c', '"e3"', 10)]);
    expect(serializeManifest(plain)).not.toContain('key');
    expect(manifestDigest(parsed)).not.toBe(manifestDigest(plain));
  });

  it.each([
    ['another prefix', 'results/s1.zip'],
    ["another submission's revision", 'revisions/s2/0a1b2c3d4e5f6a7b/main.c'],
    ['another path', 'revisions/s1/0a1b2c3d4e5f6a7b/other.c'],
    ["another path's plain key", 'submissions/s1/other.c'],
    ['a malformed revision', 'revisions/s1/../main.c'],
    ['a key that is not a string', 42],
  ])('rejects a file stored under %s', (_what, key) => {
    const text = JSON.stringify({ version: 1, id: 's1', files: [{ ...f('main.c'), key }] });
    expect(() => parseManifest(text, 's1')).toThrow(/outside the submission/);
  });

  it.each([
    ['a negative size', -1],
    ['a fractional size', 1.5],
    ['a size past exact integers', 2 ** 53],
  ])('rejects a file with %s (damaged storage, not an archive of the wrong length)', (_what, size) => {
    const text = JSON.stringify({ version: 1, id: 's1', files: [f('a', '"e"', size)] });
    expect(() => parseManifest(text, 's1')).toThrow(/impossible size/);
  });

  it('rejects a path listed twice (an archive would hold two entries of one name)', () => {
    const text = JSON.stringify({ version: 1, id: 's1', files: [f('a', '"e1"'), f('a', '"e2"')] });
    expect(() => parseManifest(text, 's1')).toThrow(/twice/);
  });

  it('rejects text that is not JSON', () => {
    expect(() => parseManifest('{"version":1,', 's1')).toThrow();
  });

  it.each([['../x'], ['/etc/passwd'], ['a//b'], ['a\\b'], ['']])('rejects a stored path %j', (path) => {
    const text = JSON.stringify({ version: 1, id: 's1', files: [f(path)] });
    expect(() => parseManifest(text, 's1')).toThrow(/path/);
  });
});

describe('mergeFiles: paths that are one file only on a case-insensitive or normalising file system', () => {
  const pairs = [
    ['case', 'Main.java', 'main.java'],
    ['NFC and NFD', '\u00e9.txt', 'e\u0301.txt'],
    ['full case folding', 'stra\u00dfe.c', 'STRASSE.C'],
    ['a folder in another case', 'Src/x.c', 'src/x.c'],
    ['a file and a folder in another case', 'lib', 'LIB/x.c'],
  ];

  // The old fileserver stored these, and a ReCodEx worker unpacks them on Linux, where they are distinct.
  it.each(pairs)(
    'keeps both by default (%s: %j and %j), in one request and against the stored files',
    (_what, first, second) => {
      expect(paths(mergeFiles([], [f(first), f(second)], EXACT_COLLISIONS))).toEqual([first, second].sort());
      expect(paths(mergeFiles([f(first)], [f(second)], EXACT_COLLISIONS))).toEqual([first, second].sort());
      expect(paths(mergeFiles([f(second)], [f(first)], EXACT_COLLISIONS))).toEqual([first, second].sort());
    },
  );

  it.each(pairs)(
    'refuses %s (%j against %j) where the rule is set, in one request and against the stored files',
    (_what, first, second) => {
      expectConflict(() => mergeFiles([], [f(first), f(second)], FOLDED));
      expectConflict(() => mergeFiles([f(first)], [f(second)], FOLDED));
      expectConflict(() => mergeFiles([f(second)], [f(first)], FOLDED));
    },
  );

  it('keeps files in folders that differ only in case, and replaces a path given in its own spelling', () => {
    expect(paths(mergeFiles([f('Dir/x.c')], [f('dir/y.c')], FOLDED))).toEqual(['Dir/x.c', 'dir/y.c']);
    expect(mergeFiles([f('Main.c', '"old"')], [f('Main.c', '"new"')], FOLDED)).toEqual([f('Main.c', '"new"')]);
  });

  it('leaves a colliding pair stored before the rule alone, so that its submission can still be re-POSTed', () => {
    const stored = [f('A.txt'), f('a.txt')];
    expect(paths(mergeFiles(stored, [f('b.txt')], FOLDED))).toEqual(['A.txt', 'a.txt', 'b.txt']);
    expect(paths(mergeFiles(stored, [f('a.txt', '"new"')], FOLDED))).toEqual(['A.txt', 'a.txt']);
    expectConflict(() => mergeFiles(stored, [f('A.TXT')], FOLDED));
  });

  it('leaves a file-and-folder pair stored before the rule alone (a re-POST still works), and refuses a new path that clashes', () => {
    const stored = [f('lib'), f('lib/x.c')];
    expect(paths(mergeFiles(stored, [f('b.txt')], EXACT_COLLISIONS))).toEqual(['b.txt', 'lib', 'lib/x.c']);
    expect(paths(mergeFiles(stored, [f('lib/x.c', '"new"')], EXACT_COLLISIONS))).toEqual(['lib', 'lib/x.c']);
    expectConflict(() => mergeFiles(stored, [f('lib/y.c')], EXACT_COLLISIONS));
  });
});
