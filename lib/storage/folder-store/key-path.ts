/**
 * Where the folder store keeps the object of a key: one file per object, in folders that follow the key's `/`
 * segments, so that `objects/` reads like the bucket. The mapping works for every key S3 accepts (1 to 1,024 bytes of
 * UTF-8, any characters, empty segments too) on a file system whose names are at most 255 bytes (ext4, APFS, XFS):
 *
 * - A segment keeps `A-Z a-z 0-9 _ -` and `.` (a leading `.` excepted, so no name is `.`, `..` or hidden); every
 *   other byte is `%XX` (upper-case hex), `%` itself included. So every `%` in an encoded segment starts an escape.
 * - A folder's name ends in a lone `%`, which no encoded segment does: the key `a` (a file) and the key `a/b` (a file
 *   in the folder `a%`) can both exist, as in S3. An empty last segment (a key ending in `/`) is the file `%_`.
 * - A name that would pass 255 bytes keeps the start of its encoding and ends in `%h` and the SHA-256 of the
 *   segment (lower-case hex); the object file records its whole key, which listing reads back.
 *
 * The store's own files (its marker, lock, credentials, temporary files) live beside `objects/`, never inside it, so
 * no key can name one of them. docs/embedded-store.md describes the layout.
 */
import { createHash } from 'node:crypto';
import { BadRequestError } from '../../errors';

/** S3: "The name for a key is a sequence of Unicode characters whose UTF-8 encoding is at most 1,024 bytes long." */
export const MAX_KEY_BYTES = 1024;
/** NAME_MAX of ext4, XFS, Btrfs and APFS. */
const MAX_NAME_BYTES = 255;
/** How much of the encoding a hashed name keeps, so that a person can still tell what it is. */
const HASHED_NAME_KEEPS = 96;
const FOLDER_MARK = '%';
const EMPTY_FILE_NAME = '%_';
const HASH_MARK = '%h';

const KEPT = /^[A-Za-z0-9_.-]$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The relative path (names joined by `/`) of the object file of `key`, under the store's `objects/` folder. */
export function objectPath(key: string): string {
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes === 0 || bytes > MAX_KEY_BYTES) {
    throw new BadRequestError('invalid-key', `A key is 1 to ${MAX_KEY_BYTES} bytes of UTF-8; this one is ${bytes}.`);
  }
  if (LONE_SURROGATE.test(key))
    throw new BadRequestError('invalid-key', 'A key must be valid Unicode (no lone surrogates).');
  const segments = key.split('/');
  const last = segments.pop() as string;
  return [...segments.map((segment) => name(segment, true)), name(last, false)].join('/');
}

/**
 * The key of an object file from its path under `objects/`, or `undefined` if a name was hashed (the file itself
 * then records the key).
 */
export function keyOfPath(relativePath: string): string | undefined {
  const names = relativePath.split('/');
  const segments: string[] = [];
  for (const [index, entry] of names.entries()) {
    const folder = index < names.length - 1;
    if (entry.includes(HASH_MARK)) return undefined;
    if (folder) {
      if (!entry.endsWith(FOLDER_MARK)) return undefined;
      segments.push(decode(entry.slice(0, -FOLDER_MARK.length)));
    } else {
      segments.push(entry === EMPTY_FILE_NAME ? '' : decode(entry));
    }
  }
  return segments.join('/');
}

/** Whether a name in `objects/` is a folder's: only a folder's ends in `%` (an escape ends in a hex digit). */
export function isFolderName(entry: string): boolean {
  return entry.endsWith(FOLDER_MARK);
}

function name(segment: string, folder: boolean): string {
  const encoded = encode(segment);
  const plain = folder ? encoded + FOLDER_MARK : encoded === '' ? EMPTY_FILE_NAME : encoded;
  if (Buffer.byteLength(plain) <= MAX_NAME_BYTES) return plain;
  const digest = createHash('sha256').update(segment, 'utf8').digest('hex');
  return encoded.slice(0, HASHED_NAME_KEEPS) + HASH_MARK + digest + (folder ? FOLDER_MARK : '');
}

function encode(segment: string): string {
  let out = '';
  let index = 0;
  for (const char of segment) {
    if (KEPT.test(char) && !(index === 0 && char === '.')) out += char;
    else for (const byte of Buffer.from(char, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    index += char.length;
  }
  return out;
}

function decode(encoded: string): string {
  return Buffer.from(
    encoded.replace(/%([0-9A-F]{2})|([^%]+)/g, (_match, hex: string | undefined, plain: string | undefined) =>
      hex ? String.fromCharCode(Number.parseInt(hex, 16)) : (plain ?? ''),
    ),
    'latin1',
  ).toString('utf8');
}
