/**
 * A submission's manifest: the list of its files, written after all of them (docs/design.md "Archive on
 * upload"). It is the single input of the archive: same manifest, same archive bytes. Its digest, kept in the
 * archive's metadata, tells whether an archive is current.
 */
import { hash } from 'node:crypto';
import { BadRequestError } from '../errors';
import { isSubmissionFileKey, validateSubmissionPath } from './keys';

export interface ManifestFile {
  /** Relative path inside the submission (validated, docs/protocol.md §6). */
  path: string;
  size: number;
  /** The S3 ETag of the stored file; the archive reads exactly this version (`If-Match`). */
  etag: string;
  /** Where the file is stored, when not at `submissions/<id>/<path>`: a revision key (lib/fileserver/keys.ts). */
  key?: string;
}

export interface Manifest {
  version: 1;
  id: string;
  /** Sorted by path, no duplicates. */
  files: ManifestFile[];
}

export function makeManifest(id: string, files: readonly ManifestFile[]): Manifest {
  return { version: 1, id, files: [...files].sort((a, b) => compareStrings(a.path, b.path)) };
}

/**
 * Which paths a submission may not hold side by side (docs/protocol.md §8.4). A path that is both a file and the folder
 * of another can be unpacked on no file system, so that pair is always refused. Two paths that are one file only on a
 * case-insensitive or normalising file system (`Main.java` and `main.java`) are distinct on the Linux workers of
 * ReCodEx, and the old fileserver stored both; they are refused only where `folded` is set: by new uploads on an
 * installation that sets REFUSE_FOLDED_COLLISIONS, because its workers unpack on such a file system.
 */
export interface CollisionRules {
  /** Compare paths as `foldedPath` gives them, not as they are spelt. */
  folded: boolean;
}

/** The rules of a copy that must store what the old fileserver stored (`migrate`): only real clashes. */
export const EXACT_COLLISIONS: CollisionRules = { folded: false };

/**
 * The files of a submission after a (re-)POST: the new files replace stored ones with the same path, others are
 * kept (docs/protocol.md §3: "rebuilt when the id's files change"). Paths that the worker could not unpack side by side
 * are refused (`rejectCollisions`).
 */
export function mergeFiles(
  existing: readonly ManifestFile[],
  added: readonly ManifestFile[],
  rules: CollisionRules,
): ManifestFile[] {
  const byPath = new Map<string, ManifestFile>();
  for (const file of existing) byPath.set(file.path, file);
  for (const file of added) byPath.set(file.path, file);
  const stored = new Set(existing.map((file) => file.path));
  rejectCollisions(
    [...byPath.keys()],
    new Set(added.map((file) => file.path).filter((path) => !stored.has(path))),
    rules,
  );
  return [...byPath.values()].sort((a, b) => compareStrings(a.path, b.path));
}

/**
 * A path as a case-insensitive or normalising file system sees it (NTFS and APFS by default, and macOS's HFS+, which
 * also stores names decomposed): Unicode NFC, case folded with the full mappings. Two paths with one folded form
 * would unpack to one file on such a worker (docs/protocol.md §8.4). Folding this widely (`ß` is `ss`) may refuse a
 * pair some file system keeps apart; never the reverse.
 */
export function foldedPath(path: string): string {
  return path.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');
}

/**
 * Throws 400 `path-conflict` if one of `paths` is also the folder of another (`a` and `a/b`): no file system can
 * unpack both. With `rules.folded`, also if two are one file once folded (`A.txt` and `a.txt`, `é` composed and
 * decomposed), or a path is the folder of another in another case (`A` and `a/b`). Only a clash that involves a path
 * in `added` (the paths new to the submission) is refused: a pair stored before the rule is kept, so that such a
 * submission can still be re-POSTed, its files replaced in their own spelling.
 */
export function rejectCollisions(paths: readonly string[], added: ReadonlySet<string>, rules: CollisionRules): void {
  const compared = rules.folded ? foldedPath : (path: string): string => path;
  const byCompared = new Map<string, string>();
  const clash = (message: string): never => {
    throw new BadRequestError('path-conflict', message);
  };
  for (const path of paths) {
    const key = compared(path);
    const other = byCompared.get(key);
    if (other !== undefined && (added.has(path) || added.has(other))) {
      clash(
        `${JSON.stringify(other)} and ${JSON.stringify(path)} differ only in case or Unicode normalisation, so they ` +
          'would be one file where the worker unpacks them (REFUSE_FOLDED_COLLISIONS is set); send one of them.',
      );
    }
    byCompared.set(key, path);
  }
  for (const path of paths) {
    const segments = compared(path).split('/');
    for (let i = 1; i < segments.length; i++) {
      const folder = byCompared.get(segments.slice(0, i).join('/'));
      if (folder !== undefined && (added.has(path) || added.has(folder))) {
        clash(
          `${JSON.stringify(folder)} would be both a file and the folder of ${JSON.stringify(path)} in this submission.`,
        );
      }
    }
  }
}

export function serializeManifest(manifest: Manifest): string {
  return JSON.stringify({
    version: manifest.version,
    id: manifest.id,
    // `key` only when set, so manifests without revisions serialise (and digest) exactly as before.
    files: manifest.files.map(({ path, size, etag, key }) => ({ path, size, etag, ...(key ? { key } : {}) })),
  });
}

/**
 * sha256 of the canonical serialisation: equal digests mean equal archives. One-shot `crypto.hash` (Node ≥ 20.12),
 * half the cost of a `createHash` object: every archive GET computes it to see whether the archive is current.
 */
export function manifestDigest(manifest: Manifest): string {
  return hash('sha256', serializeManifest(manifest), 'hex');
}

/** Parses a stored manifest, distrusting its shape (it may have been written by an older or foreign version). */
export function parseManifest(text: string, expectedId: string): Manifest {
  const data: unknown = JSON.parse(text);
  if (!isRecord(data) || data.version !== 1 || data.id !== expectedId || !Array.isArray(data.files)) {
    throw new Error(`The manifest of ${expectedId} has an unknown shape.`);
  }
  const files = data.files.map((entry: unknown): ManifestFile => {
    if (
      !isRecord(entry) ||
      typeof entry.path !== 'string' ||
      typeof entry.size !== 'number' ||
      typeof entry.etag !== 'string'
    ) {
      throw new Error(`The manifest of ${expectedId} lists a malformed file.`);
    }
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) {
      throw new Error(`The manifest of ${expectedId} lists a file with an impossible size.`);
    }
    try {
      validateSubmissionPath(entry.path);
    } catch {
      // A stored manifest with a bad path is damaged storage (a 500), not a client's mistake (a 400).
      throw new Error(`The manifest of ${expectedId} lists an invalid path.`);
    }
    if (
      entry.key !== undefined &&
      (typeof entry.key !== 'string' || !isSubmissionFileKey(entry.key, expectedId, entry.path))
    ) {
      // A key outside the submission's own files would let a damaged manifest pull any object into an archive.
      throw new Error(`The manifest of ${expectedId} names a storage key outside the submission.`);
    }
    return { path: entry.path, size: entry.size, etag: entry.etag, ...(entry.key ? { key: entry.key } : {}) };
  });
  const paths = files.map((file) => file.path);
  if (new Set(paths).size !== paths.length) throw new Error(`The manifest of ${expectedId} lists a path twice.`);
  return makeManifest(expectedId, files);
}

/** Code-unit order: deterministic everywhere, unlike `localeCompare`. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
