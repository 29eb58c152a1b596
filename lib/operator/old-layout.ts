/**
 * The storage folder of the old ReCodEx fileserver (Python/Flask), read lazily so that memory stays flat whatever its
 * size. Its layout (the fileserver's DirectoryStructure and views; docs/operations.md, "The old layout"):
 *
 *   submissions/<id>/<path…>        the files of a submission, nested folders as posted
 *   submission_archives/<id>.zip    the zip the old server built from them (not copied: rebuilt here)
 *   results/<name>                  result archives uploaded by workers
 *   tasks/<sha1[0]>/<sha1>          exercise files under the SHA-1 of their content
 *   exercises/<sha1[0]>/<sha1>      the same, in installations that stored them under that name
 *   attachments/<id>                attachments
 */
import { type Dirent, opendirSync } from 'node:fs';
import { lstat, opendir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { showBytes, strictUtf8 } from '../util/utf8';

export type OldKind = 'exercise' | 'submission' | 'result' | 'attachment' | 'archive' | 'other';

export interface OldItem {
  kind: OldKind;
  /** Relative to the folder, with '/' (what the report names). */
  path: string;
  /** The absolute path of the file, or of the submission's folder. */
  absolute: string;
  /** The file or folder name that names the item: a hash, an id, a result name. */
  name: string;
  /** Set when the entry cannot be part of the layout at all: why (it is then refused, or skipped for `other`). */
  misplaced?: string;
}

export interface SubmissionFile {
  /** The relative path inside the submission, '/'-separated. */
  path: string;
  absolute: string;
  size: number;
}

const EXERCISE_FOLDERS = ['exercises', 'tasks'] as const;
const FLAT_FOLDERS: Record<string, OldKind> = { results: 'result', attachments: 'attachment' };

/** Every item of the folder: exercise files first (every job needs them), then submissions, then the rest. */
export async function* oldItems(root: string): AsyncGenerator<OldItem> {
  for (const folder of EXERCISE_FOLDERS) {
    for await (const bucket of entries(join(root, folder))) {
      const bucketPath = `${folder}/${bucket.name}`;
      if (!bucket.isDirectory()) {
        yield misplaced('exercise', bucketPath, root, bucket.name, 'is not inside a one-character folder');
        continue;
      }
      for await (const entry of entries(join(root, bucketPath))) {
        const path = `${bucketPath}/${entry.name}`;
        if (entry.isFile()) yield { kind: 'exercise', path, absolute: join(root, path), name: entry.name };
        else yield misplaced('exercise', path, root, entry.name, 'is not a regular file');
      }
    }
  }
  for await (const entry of entries(join(root, 'submissions'))) {
    const path = `submissions/${entry.name}`;
    if (entry.isDirectory()) yield { kind: 'submission', path, absolute: join(root, path), name: entry.name };
    else yield misplaced('submission', path, root, entry.name, 'is not a folder of files');
  }
  for (const [folder, kind] of Object.entries(FLAT_FOLDERS)) {
    for await (const entry of entries(join(root, folder))) {
      const path = `${folder}/${entry.name}`;
      if (entry.isFile()) yield { kind, path, absolute: join(root, path), name: entry.name };
      else yield misplaced(kind, path, root, entry.name, 'is not a regular file');
    }
  }
  for await (const entry of walkFiles(join(root, 'submission_archives'), 'submission_archives')) {
    yield { kind: 'archive', path: entry.path, absolute: entry.absolute, name: entry.path };
  }
  const known = new Set<string>([
    ...EXERCISE_FOLDERS,
    'submissions',
    'submission_archives',
    ...Object.keys(FLAT_FOLDERS),
  ]);
  for await (const entry of entries(root)) {
    if (known.has(entry.name)) continue;
    yield misplaced('other', entry.name, root, entry.name, "is not part of the old fileserver's layout");
  }
}

/**
 * The files of one submission folder, sorted by path; anything that is not a folder or a regular file is named in
 * `irregular`, and a name that is not UTF-8 in `undecodable` (with `\xNN` for its bytes that are not): read as UTF-8,
 * such a name would turn into one with U+FFFD in it, which names no file.
 */
export async function submissionFiles(
  folder: string,
): Promise<{ files: SubmissionFile[]; irregular: string[]; undecodable: string[] }> {
  const files: SubmissionFile[] = [];
  const irregular: string[] = [];
  const undecodable: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const entry of await rawEntries(dir)) {
      const name = strictUtf8(entry.name);
      if (name === undefined) {
        undecodable.push(
          prefix === '' ? showBytes(entry.name, Infinity) : `${prefix}/${showBytes(entry.name, Infinity)}`,
        );
        continue;
      }
      const path = prefix === '' ? name : `${prefix}/${name}`;
      const absolute = join(dir, name);
      if (entry.isDirectory()) await walk(absolute, path);
      else if (entry.isFile()) files.push({ path, absolute, size: (await lstat(absolute)).size });
      else irregular.push(path);
    }
  };
  await walk(folder, '');
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, irregular: irregular.sort(), undecodable: undecodable.sort() };
}

/** How many regular files and bytes the folder holds, for the progress bar's totals (a first, read-only pass). */
export async function countFiles(root: string): Promise<{ files: number; bytes: number }> {
  const total = { files: 0, bytes: 0 };
  // A folder that cannot be read is left out of the totals; the migration itself reports it.
  for await (const file of walkFiles(root, '', true)) {
    total.files++;
    total.bytes += file.size;
  }
  return total;
}

/** Whether `root` is a folder that can be read. */
export function isReadableFolder(root: string): boolean {
  try {
    opendirSync(root).closeSync();
    return true;
  } catch {
    return false;
  }
}

async function* walkFiles(
  dir: string,
  prefix: string,
  tolerant = false,
): AsyncGenerator<{ path: string; absolute: string; size: number }> {
  let listing: AsyncGenerator<Dirent>;
  try {
    listing = entries(dir);
    for await (const entry of listing) {
      const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      const absolute = join(dir, entry.name);
      if (entry.isDirectory()) yield* walkFiles(absolute, path, tolerant);
      else if (entry.isFile()) {
        let size: number;
        try {
          size = (await lstat(absolute)).size;
        } catch (err) {
          // Gone since the listing, or a name that is not UTF-8 (read as UTF-8 it names no file; `submissionFiles`
          // names it): the count leaves it out, as the migration copies it not, and walks on.
          if (!tolerant) throw err;
          continue;
        }
        yield { path, absolute, size };
      }
    }
  } catch (err) {
    if (!tolerant) throw err;
  }
}

/**
 * The entries of a folder as the file system lists them, none if it does not exist. Streamed (`opendir` reads a few
 * entries at a time), not sorted: a `submissions/` folder of a large installation holds hundreds of thousands of names.
 */
async function* entries(dir: string): AsyncGenerator<Dirent> {
  let handle: Awaited<ReturnType<typeof opendir>>;
  try {
    handle = await opendir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  yield* handle;
}

/**
 * The entries of one folder of a submission, each name as its bytes (Dirent<Buffer>), so that a name that is not
 * UTF-8 can be told; none if it does not exist. Read at once: a submission's folder holds a few names.
 */
async function rawEntries(dir: string): Promise<Dirent<Buffer>[]> {
  try {
    return await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function misplaced(kind: OldKind, path: string, root: string, name: string, why: string): OldItem {
  return { kind, path, absolute: join(root, path), name, misplaced: `${path} ${why}` };
}
