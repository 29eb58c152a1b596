/**
 * The folder of a folder store as a whole: its marker, the lock file that gives the folder to one process (its
 * owner, the only writer: docs/embedded-store.md, "Limits"), the store's credentials, and the folder of writes in
 * progress (`tmp/`) that the owner empties when it takes the folder. What is inside `objects/` is
 * lib/storage/folder-store/folder-store.ts's.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoOf } from './fs-errors';

const MARKER = 'folder-store.json';
const FORMAT = { format: 'recodex-fileserver folder store', version: 1 };
const LOCK = 'lock';
const CREDENTIALS = 'credentials.json';
const ACCESS_KEY_ID = 'LOCALFOLDERSTORE';

export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Makes `root` this process's folder store, or refuses: an empty or missing folder becomes a store; a folder that
 * holds anything else is refused rather than mixed with; a folder a running process holds is refused. The temporary
 * files of writes that a crash cut short are removed; every object renamed into place before the crash is there.
 */
export async function takeFolder(root: string): Promise<StoreCredentials> {
  try {
    return await claimFolder(root);
  } catch (err) {
    throw await explainFull(root, err);
  }
}

async function claimFolder(root: string): Promise<StoreCredentials> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  await chmod(root, 0o700);
  const entries = await readdir(root);
  if (!entries.includes(MARKER)) {
    if (entries.length > 0) {
      throw new Error(
        `${root} is not empty and is not a folder store (no ${MARKER}); choose an empty or new folder. ` +
          'Folders of the earlier embedded S3 server (s3rver) are not read.',
      );
    }
    await writeFile(join(root, MARKER), `${JSON.stringify(FORMAT)}\n`, { mode: 0o600, flag: 'wx' });
  } else {
    await checkMarker(root);
  }
  await takeLock(join(root, LOCK));
  try {
    const credentials = await loadCredentials(join(root, CREDENTIALS));
    await rm(join(root, 'tmp'), { recursive: true, force: true });
    await mkdir(join(root, 'tmp'), { mode: 0o700 });
    await mkdir(join(root, 'objects'), { recursive: true, mode: 0o700 });
    await refuseCaseInsensitive(join(root, 'tmp'));
    return credentials;
  } catch (err) {
    await releaseFolder(root);
    throw err;
  }
}

/**
 * Taking the folder creates files (its lock, `tmp/`, a probe), so a full file system stops the start with ENOSPC,
 * which Node words "no space left on device" even when the disk has space and what is used up is its inodes, one per
 * file. The error then says which of the two it is (statfs(2)), and that nothing stored was touched: taking the folder
 * only ever creates its own working files and empties `tmp/`.
 */
async function explainFull(root: string, err: unknown): Promise<unknown> {
  const code = errnoOf(err);
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
  let why = code === 'EDQUOT' ? "its owner's disk quota is used up" : 'its file system is full';
  try {
    const fs = await statfs(root);
    if (fs.files > 0 && fs.ffree === 0) {
      why = 'there are no free inodes on its file system (each file takes one; there may still be free space)';
    } else if (fs.bavail === 0) {
      why = 'there is no free space on its file system';
    }
  } catch {
    // The general reason stands.
  }
  const creating = (err as NodeJS.ErrnoException).path;
  return new Error(
    `The storage folder ${root} cannot be opened: ${why} (${code}${creating ? ` creating ${creating}` : ''}). ` +
      'Free some on that file system and start again; nothing stored in the folder was changed.',
    { cause: err },
  );
}

/** Gives the folder up (its lock file); objects stay. */
export async function releaseFolder(root: string): Promise<void> {
  await rm(join(root, LOCK), { force: true });
}

async function checkMarker(root: string): Promise<void> {
  const marker = JSON.parse(await readFile(join(root, MARKER), 'utf8')) as typeof FORMAT;
  if (marker.format !== FORMAT.format || marker.version !== FORMAT.version) {
    throw new Error(`${root} holds a folder store of another format (${JSON.stringify(marker)}).`);
  }
}

/**
 * One owner per folder: the owner is the only writer, and its key locks (lib/storage/folder-store/key-lock.ts), which
 * hold within one process, are what makes create-only writes atomic. A lock left by a process that no longer runs
 * (killed) is taken over.
 */
async function takeLock(path: string): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && isRunning(holder)) {
      throw new Error(`The storage folder ${dirname(path)} is in use by process ${holder}; stop it or choose another.`);
    }
    await rm(path, { force: true });
  }
  throw new Error(`Could not take the lock ${path}.`);
}

/**
 * Whether process `pid` still runs. A process that has exited but that its parent has not yet reaped (a zombie:
 * `kill -9`, then a shell or npm that waits a moment) still answers signal 0, but it writes nothing any more: its
 * state in /proc/<pid>/stat (proc(5), the field after the command name) is `Z`, and it counts as gone. Where there
 * is no /proc, signal 0 alone decides.
 */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
  return processState(pid) !== 'Z';
}

/** The state letter of `pid` from /proc (`R`, `S`, `Z`, …), or `undefined` where it cannot be read. */
function processState(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // `pid (comm) state …`: the command name may hold spaces and parentheses, so the state follows the last ')'.
  return /^\s*(\S)/.exec(stat.slice(stat.lastIndexOf(')') + 1))?.[1];
}

/** The store's own access key, made on first use and kept (0600), so URLs handed out survive a restart. */
async function loadCredentials(path: string): Promise<StoreCredentials> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as StoreCredentials;
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  const credentials = { accessKeyId: ACCESS_KEY_ID, secretAccessKey: randomBytes(30).toString('base64') };
  await writeFile(path, `${JSON.stringify(credentials)}\n`, { flag: 'wx', mode: 0o600 });
  return credentials;
}

/** S3 keys are case-sensitive; on a case-insensitive folder `A` and `a` would be one object. */
async function refuseCaseInsensitive(tmp: string): Promise<void> {
  const probe = join(tmp, `CaseProbe-${randomUUID()}`);
  await writeFile(probe, '', { mode: 0o600 });
  try {
    const lower = await open(probe.toLowerCase(), 'r').catch(() => undefined);
    if (lower) {
      await lower.close();
      throw new Error(
        `${tmp} is on a case-insensitive file system; S3 keys are case-sensitive. Choose another folder.`,
      );
    }
  } finally {
    await rm(probe, { force: true });
  }
}
