/**
 * The folder of a folder store as a whole: its marker, the lock file that gives one process (the owner) the folder,
 * the store's credentials, and the working folders (`tmp/`, `locks/`) the owner empties when it opens it. Kept apart
 * from lib/storage/folder-store/folder-store.ts (and free of the AWS SDK) because the primary of a multi-process `npm start`
 * (lib/local/cluster.ts) owns the folder without serving it: its workers open the store inside it
 * (docs/embedded-store.md, "Several processes").
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errnoOf } from './fs-errors';

const MARKER = 'folder-store.json';
const FORMAT = { format: 'recodex-fileserver folder store', version: 1 };
const LOCK = 'lock';
const CREDENTIALS = 'credentials.json';
const ACCESS_KEY_ID = 'LOCALFOLDERSTORE';
/** The per-key lock files of several processes writing one folder (lib/storage/folder-store/key-lock.ts). */
export const KEY_LOCKS = 'locks';

export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Makes `root` this process's folder store, or refuses: an empty or missing folder becomes a store; a folder that
 * holds anything else is refused rather than mixed with; a folder another running process holds is refused. The
 * temporary files of writes that a crash cut short, and the key locks of processes that no longer run, are removed;
 * every object renamed into place before the crash is there. `forWorkers`: the folder is for worker processes
 * (`joinFolder`), which need the folder of key locks.
 */
export async function takeFolder(root: string, options: { forWorkers?: boolean } = {}): Promise<StoreCredentials> {
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
    await rm(join(root, KEY_LOCKS), { recursive: true, force: true });
    if (options.forWorkers) await mkdir(join(root, KEY_LOCKS), { mode: 0o700 });
    await mkdir(join(root, 'objects'), { recursive: true, mode: 0o700 });
    await refuseCaseInsensitive(join(root, 'tmp'));
    return credentials;
  } catch (err) {
    await releaseFolder(root);
    throw err;
  }
}

/**
 * Opens `root` as a worker of the process `owner`, which holds it (took it with `takeFolder`): nothing is emptied or
 * taken; the store's credentials are the owner's, so URLs one worker signs are valid at every other.
 */
export async function joinFolder(root: string, owner: number): Promise<StoreCredentials> {
  await checkMarker(root);
  const holder = Number((await readFile(join(root, LOCK), 'utf8').catch(() => '')).trim());
  if (holder !== owner) {
    throw new Error(`The storage folder ${root} is not held by process ${owner} (its lock names ${holder || 'none'}).`);
  }
  return JSON.parse(await readFile(join(root, CREDENTIALS), 'utf8')) as StoreCredentials;
}

/** Gives the folder up (its lock file); objects stay. */
export async function releaseFolder(root: string): Promise<void> {
  await rm(join(root, LOCK), { force: true });
}

/**
 * Removes the key locks a process left when it died holding them (a worker killed in the middle of a write), so
 * the writers waiting for those keys go on, and its holder file (lib/storage/folder-store/key-lock.ts); returns the keys'
 * lock names. Only the owner calls it, after the process has exited: a lock that
 * names it cannot be released or taken by anyone else meanwhile, so removing it races with nobody.
 */
export function clearKeyLocksOf(root: string, pid: number): string[] {
  const folder = join(root, KEY_LOCKS);
  const cleared: string[] = [];
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return cleared;
  }
  for (const name of names) {
    const path = join(folder, name);
    let holder: string;
    try {
      holder = readFileSync(path, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    if (holder === String(pid)) {
      unlinkSync(path);
      if (!name.startsWith('holder-')) cleared.push(name);
    }
  }
  return cleared;
}

async function checkMarker(root: string): Promise<void> {
  const marker = JSON.parse(await readFile(join(root, MARKER), 'utf8')) as typeof FORMAT;
  if (marker.format !== FORMAT.format || marker.version !== FORMAT.version) {
    throw new Error(`${root} holds a folder store of another format (${JSON.stringify(marker)}).`);
  }
}

/**
 * One owner per folder: the owner's processes are the only writers, and their key locks are what makes create-only
 * writes atomic. A lock left by a process that no longer runs (killed) is taken over.
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

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoOf(err) === 'EPERM';
  }
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
