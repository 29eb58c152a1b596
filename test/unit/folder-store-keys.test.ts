/**
 * The folder store's key → path mapping (lib/storage/folder-store/key-path.ts): every key S3 accepts has a path whose names
 * fit the file system (≤ 255 bytes, never `.` or `..`), different keys never share a path, and a file and a folder of
 * one name can both exist (keys `a` and `a/b`).
 */
import { keyOfPath, objectPath } from '../../lib/storage/folder-store/key-path';

const keys = [
  'submissions/abc/main.c',
  'a',
  'a/b',
  'a/',
  '/',
  '//',
  'a//b',
  '.',
  '..',
  '../x',
  '.hidden/x',
  'x._S3rver_object',
  'x._S3rver_object/y',
  'x._S3rver_metadata.json',
  'tmp/x',
  'lock',
  '%',
  '%_',
  '%2F',
  'a%/b',
  'ä/€ b',
  'A',
  'x'.repeat(241),
  `${'x'.repeat(241)}/y`,
  'y'.repeat(255),
  'y'.repeat(256),
  'z'.repeat(1024),
  'é'.repeat(512),
  '/'.repeat(1024),
  '~/'.repeat(512),
];

it.each(keys.map((key) => [JSON.stringify(key).slice(0, 60), key]))(
  'maps %s to names the file system takes',
  (_label, key) => {
    const path = objectPath(key);
    for (const name of path.split('/')) {
      expect(name.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
      expect(['.', '..']).not.toContain(name);
      expect(name.startsWith('.')).toBe(false);
    }
    // Linux PATH_MAX is 4,096 bytes with the folder's own path in front; the worst key stays well below.
    expect(Buffer.byteLength(path)).toBeLessThanOrEqual(3072);
    const back = keyOfPath(path);
    if (back !== undefined) expect(back).toBe(key);
  },
);

it('gives different keys different paths, and no object path is a prefix folder of another key', () => {
  const paths = keys.map(objectPath);
  expect(new Set(paths).size).toBe(keys.length);
  for (const path of paths) {
    for (const other of paths) {
      if (other !== path) expect(other.startsWith(`${path}/`)).toBe(false);
    }
  }
});

it('keeps the start of a long segment readable and tells long segments apart by their hash', () => {
  const a = objectPath(`${'x'.repeat(300)}a`);
  const b = objectPath(`${'x'.repeat(300)}b`);
  expect(a).not.toBe(b);
  expect(a.startsWith('x'.repeat(96))).toBe(true);
  expect(keyOfPath(a)).toBeUndefined(); // the file records the key instead
});

it('refuses what S3 refuses: an empty key, or one over 1,024 bytes', () => {
  expect(() => objectPath('')).toThrow(/1 to 1024 bytes/);
  expect(() => objectPath('z'.repeat(1025))).toThrow(/1 to 1024 bytes/);
  expect(() => objectPath('é'.repeat(513))).toThrow(/1 to 1024 bytes/);
});
